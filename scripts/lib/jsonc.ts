/**
 * Reads wrangler.jsonc and edits it in place, as text: comments, order and formatting are the
 * project's documentation of its settings, and a round trip through JSON.parse would drop them all.
 * The parser keeps each value's offsets so an edit replaces exactly that value's characters.
 */

export type JsoncNode =
  | { type: 'object'; start: number; end: number; properties: JsoncProperty[] }
  | { type: 'array'; start: number; end: number; items: JsoncNode[] }
  | { type: 'string'; start: number; end: number; value: string }
  | { type: 'literal'; start: number; end: number; value: number | boolean | null };

export interface JsoncProperty {
  key: string;
  keyStart: number;
  value: JsoncNode;
}

/** Parses JSON with comments and trailing commas (what wrangler accepts). Throws with the offset on a syntax error. */
export function parseJsonc(text: string): JsoncNode {
  let at = 0;
  const fail = (what: string): never => {
    const line = text.slice(0, at).split('\n').length;
    throw new Error(`wrangler config: ${what} at line ${line}`);
  };
  const skip = (): void => {
    for (;;) {
      while (at < text.length && /\s/.test(text[at] ?? '')) at++;
      if (text.startsWith('//', at)) {
        const newline = text.indexOf('\n', at);
        at = newline === -1 ? text.length : newline + 1;
      } else if (text.startsWith('/*', at)) {
        const close = text.indexOf('*/', at + 2);
        if (close === -1) fail('unterminated comment');
        at = close + 2;
      } else return;
    }
  };
  const string = (): { value: string; start: number; end: number } => {
    const start = at;
    at++;
    while (at < text.length && text[at] !== '"') at += text[at] === '\\' ? 2 : 1;
    if (at >= text.length) fail('unterminated string');
    at++;
    return { value: JSON.parse(text.slice(start, at)) as string, start, end: at };
  };
  const value = (): JsoncNode => {
    skip();
    const start = at;
    const char = text[at];
    if (char === '{') {
      at++;
      const properties: JsoncProperty[] = [];
      for (;;) {
        skip();
        if (text[at] === '}') break;
        if (text[at] !== '"') fail('expected a property name');
        const key = string();
        skip();
        if (text[at] !== ':') fail('expected ":"');
        at++;
        properties.push({ key: key.value, keyStart: key.start, value: value() });
        skip();
        if (text[at] === ',') at++;
        else if (text[at] !== '}') fail('expected "," or "}"');
      }
      at++;
      return { type: 'object', start, end: at, properties };
    }
    if (char === '[') {
      at++;
      const items: JsoncNode[] = [];
      for (;;) {
        skip();
        if (text[at] === ']') break;
        items.push(value());
        skip();
        if (text[at] === ',') at++;
        else if (text[at] !== ']') fail('expected "," or "]"');
      }
      at++;
      return { type: 'array', start, end: at, items };
    }
    if (char === '"') return { type: 'string', ...string() };
    const literal = /^(?:true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(at, at + 64))?.[0];
    if (literal === undefined) return fail('unexpected character');
    at += literal.length;
    return { type: 'literal', start, end: at, value: JSON.parse(literal) as number | boolean | null };
  };
  const root = value();
  skip();
  if (at !== text.length) fail('unexpected content after the configuration');
  return root;
}

/** The plain value of a node (for reading settings). */
export function plain(node: JsoncNode): unknown {
  switch (node.type) {
    case 'object':
      return Object.fromEntries(node.properties.map((property) => [property.key, plain(property.value)]));
    case 'array':
      return node.items.map(plain);
    default:
      return node.value;
  }
}

export function property(node: JsoncNode | undefined, key: string): JsoncNode | undefined {
  return node?.type === 'object' ? node.properties.find((candidate) => candidate.key === key)?.value : undefined;
}

/** The `kv_namespaces` entry whose `binding` is `binding`, if any. */
export function kvNamespaceEntry(root: JsoncNode, binding: string): JsoncNode | undefined {
  const list = property(root, 'kv_namespaces');
  if (list?.type !== 'array') return undefined;
  return list.items.find((item) => {
    const name = property(item, 'binding');
    return name?.type === 'string' && name.value === binding;
  });
}

/** Sets the `id` of a `kv_namespaces` entry, replacing only the characters of its current value. */
export function setKvNamespaceId(text: string, binding: string, id: string): string {
  const entry = kvNamespaceEntry(parseJsonc(text), binding);
  const current = property(entry, 'id');
  if (!entry || !current) throw new Error(`wrangler config: no "kv_namespaces" entry with "binding": "${binding}" and an "id" to set`);
  return splice(text, current.start, current.end, JSON.stringify(id));
}

/**
 * Sets `vars.<name>`: an existing value is replaced in place; a new one goes on its own line after
 * the last var, indented like it (or inline, in a one-line object), so comments stay where they were.
 */
export function setVar(text: string, name: string, value: string): string {
  let root = parseJsonc(text);
  if (root.type !== 'object') throw new Error('wrangler config: the top level is not an object');
  if (!property(root, 'vars')) {
    text = insertProperty(text, root, 'vars', '{}');
    root = parseJsonc(text);
  }
  const vars = property(root, 'vars');
  if (vars?.type !== 'object') throw new Error('wrangler config: "vars" is not an object');
  const existing = property(vars, name);
  if (existing) return splice(text, existing.start, existing.end, JSON.stringify(value));
  return insertProperty(text, vars, name, JSON.stringify(value));
}

function insertProperty(text: string, object: Extract<JsoncNode, { type: 'object' }>, key: string, valueText: string): string {
  const entry = `${JSON.stringify(key)}: ${valueText}`;
  const last = object.properties.at(-1);
  if (!last) return splice(text, object.start + 1, object.end - 1, ` ${entry} `);
  const close = object.end - 1;
  const between = text.slice(last.value.end, close);
  const hasComma = /^\s*(?:(?:\/\/[^\n]*\n|\/\*[\s\S]*?\*\/)\s*)*,/.test(between);
  if (!between.includes('\n')) return splice(text, last.value.end, last.value.end, `${hasComma ? '' : ','} ${entry}`);
  // Line mode: a comma after the last value if it has none, then the entry at the start of the line
  // after it, so a comment at the end of that line keeps commenting what it did.
  const lineStart = text.lastIndexOf('\n', last.keyStart) + 1;
  const indent = /^[ \t]*/.exec(text.slice(lineStart))?.[0] ?? '';
  const lineEnd = text.indexOf('\n', last.value.end);
  const withComma = hasComma ? text : splice(text, last.value.end, last.value.end, ',');
  const insertAt = lineEnd + (hasComma ? 1 : 2);
  return splice(withComma, insertAt, insertAt, `${indent}${entry}\n`);
}

function splice(text: string, start: number, end: number, replacement: string): string {
  return text.slice(0, start) + replacement + text.slice(end);
}
