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

/**
 * The object a wrangler environment's settings live in: the top level, or `env.<name>` (undefined while
 * the file has no such environment). wrangler environments inherit some top-level keys (`main`,
 * `compatibility_*`, `migrations`, `triggers`, `observability`) but not bindings or `vars`.
 */
export function scopeOf(root: JsoncNode, env: string | undefined): JsoncNode | undefined {
  return env === undefined ? root : property(property(root, 'env'), env);
}

/** The `kv_namespaces` entry whose `binding` is `binding`, if any. */
export function kvNamespaceEntry(scope: JsoncNode | undefined, binding: string): JsoncNode | undefined {
  const list = property(scope, 'kv_namespaces');
  if (list?.type !== 'array') return undefined;
  return list.items.find((item) => {
    const name = property(item, 'binding');
    return name?.type === 'string' && name.value === binding;
  });
}

/**
 * Sets the `id` of a `kv_namespaces` entry, replacing only the characters of its current value. In an
 * environment (`env`), an entry or a `kv_namespaces` list that is not there yet is added; at the top
 * level the entry must exist (wrangler.jsonc ships it, with the comment saying what it holds).
 */
export function setKvNamespaceId(text: string, binding: string, id: string, env?: string): string {
  const scope = requireScope(text, env);
  const entry = kvNamespaceEntry(scope, binding);
  const current = property(entry, 'id');
  if (entry && current) return splice(text, current.start, current.end, JSON.stringify(id));
  if (env === undefined) throw new Error(`wrangler config: no "kv_namespaces" entry with "binding": "${binding}" and an "id" to set`);
  if (entry) throw new Error(`wrangler config: the "${binding}" entry of env.${env}.kv_namespaces has no "id" to set`);
  const entryText = `{ "binding": ${JSON.stringify(binding)}, "id": ${JSON.stringify(id)} }`;
  const list = property(scope, 'kv_namespaces');
  if (list === undefined) return insertProperty(text, scope, 'kv_namespaces', `[${entryText}]`);
  if (list.type !== 'array') throw new Error(`wrangler config: env.${env}.kv_namespaces is not a list`);
  const last = list.items.at(-1);
  return last ? splice(text, last.end, last.end, `, ${entryText}`) : splice(text, list.start + 1, list.end - 1, entryText);
}

/**
 * Sets `vars.<name>` (of the environment `env`, if given): an existing value is replaced in place; a
 * new one goes on its own line after the last var, indented like it (or inline, in a one-line
 * object), so comments stay where they were.
 */
export function setVar(text: string, name: string, value: string, env?: string): string {
  let scope = requireScope(text, env);
  if (!property(scope, 'vars')) {
    text = insertProperty(text, scope, 'vars', '{}');
    scope = requireScope(text, env);
  }
  const vars = property(scope, 'vars');
  if (vars?.type !== 'object') throw new Error(`wrangler config: "${env === undefined ? '' : `env.${env}.`}vars" is not an object`);
  const existing = property(vars, name);
  if (existing) return splice(text, existing.start, existing.end, JSON.stringify(value));
  return insertProperty(text, vars, name, JSON.stringify(value));
}

/**
 * Adds `env.<name>` (and `env`) when the file does not have it, each on lines of their own after
 * everything else, with `comment` above `env` when that is new too.
 */
export function ensureEnvironment(text: string, env: string, comment: readonly string[] = []): string {
  let root = parseJsonc(text);
  if (root.type !== 'object') throw new Error('wrangler config: the top level is not an object');
  if (!property(root, 'env')) {
    text = insertProperty(text, root, 'env', '{}', comment);
    root = parseJsonc(text);
  }
  const envs = property(root, 'env');
  if (envs?.type !== 'object') throw new Error('wrangler config: "env" is not an object');
  return property(envs, env) ? text : insertProperty(text, envs, env, '{}');
}

/**
 * Copies the top-level `key` into `env.<name>` when that environment has none, as text: its comments
 * come along, re-indented to their new depth, with `comment` above. For what wrangler environments do
 * not inherit (`durable_objects`, `ratelimits`): without them the environment's Worker lacks bindings.
 */
export function copyIntoEnvironment(text: string, key: string, env: string, comment: readonly string[] = []): string {
  const root = parseJsonc(text);
  const scope = requireScope(text, env);
  const value = property(root, key);
  if (!value || property(scope, key)) return text;
  return insertProperty(text, scope, key, text.slice(value.start, value.end), comment, lineIndent(text, propertyOf(root, key)?.keyStart ?? value.start));
}

function requireScope(text: string, env: string | undefined): Extract<JsoncNode, { type: 'object' }> {
  const scope = scopeOf(parseJsonc(text), env);
  if (scope?.type !== 'object') throw new Error(env === undefined ? 'wrangler config: the top level is not an object' : `wrangler config: no object "env.${env}"`);
  return scope;
}

function propertyOf(node: JsoncNode, key: string): JsoncProperty | undefined {
  return node.type === 'object' ? node.properties.find((candidate) => candidate.key === key) : undefined;
}

/** The whitespace that starts the line holding `offset`. */
function lineIndent(text: string, offset: number): string {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  return /^[ \t]*/.exec(text.slice(lineStart))?.[0] ?? '';
}

/**
 * Adds `"key": value` to `object`: on a line of its own after the last property, indented like it
 * (`comment` lines above it); inline in a one-line object; and on its own line inside an empty one.
 * A value spanning lines is re-indented from `valueIndent` (the indentation its key had where it was
 * written) to its new key's.
 */
function insertProperty(text: string, object: Extract<JsoncNode, { type: 'object' }>, key: string, valueText: string, comment: readonly string[] = [], valueIndent = ''): string {
  const lines = (indent: string): string => {
    const value = valueText.replaceAll(/\n([ \t]*)/g, (_, current: string) => `\n${indent}${current.startsWith(valueIndent) ? current.slice(valueIndent.length) : current.trimStart()}`);
    return `${comment.map((line) => `${indent}// ${line}\n`).join('')}${indent}${JSON.stringify(key)}: ${value}`;
  };
  const last = object.properties.at(-1);
  if (!last) {
    // An empty object: the entry on its own line, one level deeper than the line the object opens on.
    const outer = lineIndent(text, object.start);
    const inner = `${outer}${/^\t/.test(outer) ? '\t' : '  '}`;
    return splice(text, object.start + 1, object.end - 1, `\n${lines(inner)}\n${outer}`);
  }
  const close = object.end - 1;
  const between = text.slice(last.value.end, close);
  const hasComma = /^\s*(?:(?:\/\/[^\n]*\n|\/\*[\s\S]*?\*\/)\s*)*,/.test(between);
  if (!between.includes('\n')) return splice(text, last.value.end, last.value.end, `${hasComma ? '' : ','} ${JSON.stringify(key)}: ${valueText}`);
  // Line mode: a comma after the last value if it has none, then the entry at the start of the line
  // after it, so a comment at the end of that line keeps commenting what it did.
  const indent = lineIndent(text, last.keyStart);
  const lineEnd = text.indexOf('\n', last.value.end);
  const withComma = hasComma ? text : splice(text, last.value.end, last.value.end, ',');
  const insertAt = lineEnd + (hasComma ? 1 : 2);
  return splice(withComma, insertAt, insertAt, `${lines(indent)}\n`);
}

function splice(text: string, start: number, end: number, replacement: string): string {
  return text.slice(0, start) + replacement + text.slice(end);
}
