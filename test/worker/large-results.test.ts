/**
 * Large results (issue 12), on every transport: notes_list pages through a user's notes with a
 * cursor (1,000 notes of 10,000 characters, about 10 MB: the most one user can keep), no tool result
 * over 1 MiB is sent, a result over 64 KiB is not sent twice, and nothing hangs. Before, notes_list
 * sent all of it in one result, twice (text and structuredContent): about 20 MB, which McpAgent's
 * WebSocket bridge never delivered (the client got the headers and then nothing).
 *
 * Sizes are the bytes a client receives for one answer: the HTTP body on /mcp, the event's data on /sse.
 */
import { env } from 'cloudflare:workers';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { GrantProps } from '../../src/auth/props';
import { toolJson } from '../../src/mcp/tools/define';
import { notesList } from '../../src/mcp/tools/notes';
import { notesFor } from '../../src/storage/user-notes';
import { SseWire } from '../support/sse-wire';
import { ALICE, McpWire, ORIGIN, parseRpcResponse, tokensFor, workerFetch, type JsonRpcResponse, type ProtocolRevision } from './helpers';

const MCP_AGENT_ENV = { ...env, MCP_TRANSPORT: 'mcp-agent' } as unknown as Env;
/** No tool result is larger than this, on any transport (src/mcp/tool-calls.ts). */
const RESULT_CAP = 1024 * 1024;
/** Up to this, a result's JSON is repeated as its text content; above it, only in structuredContent (src/mcp/tools/define.ts). */
const TEXT_COPY_MAX = 64 * 1024;
/** An answer that takes longer than this is a hang. */
const ANSWER_WITHIN_MS = 15_000;
const NOTE_COUNT = 1_000;
const NOTE_LENGTH = 10_000;

type Result = NonNullable<JsonRpcResponse['result']>;
interface Answer {
  message: JsonRpcResponse;
  /** The answer's size as the client received it (UTF-8 bytes). */
  bytes: number;
}
interface Client {
  call(name: string, args?: Record<string, unknown>): Promise<Answer>;
  close(): Promise<void>;
}
interface Channel {
  label: string;
  connect(token: string): Promise<Client>;
}
interface ListedNote {
  id: string;
  text: string;
  createdAt: string;
}

const encoder = new TextEncoder();

/** `promise`, or a failure naming `what` once it has taken {@link ANSWER_WITHIN_MS}. */
async function within<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ANSWER_WITHIN_MS} ms`)), ANSWER_WITHIN_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

function streamableHttp(protocol: ProtocolRevision, variant?: Env): Channel {
  const label = `/mcp, ${protocol}${variant ? ', MCP_TRANSPORT=mcp-agent' : ''}`;
  return {
    label,
    async connect(token) {
      const wire = new McpWire(token, '/mcp', { protocol, env: variant });
      if (!wire.modern) await within(`initialize on ${label}`, wire.initialize());
      return {
        async call(name, args = {}) {
          const body = wire.message('tools/call', { name, arguments: args });
          // The body too: the failure this guards against sent the headers and then nothing.
          const raw = await within(`${name} on ${label}`, wire.post(body).then((response) => response.text()));
          const message = parseRpcResponse(raw, body.id);
          if (!message) throw new Error(`no answer to ${name} in ${raw.slice(0, 200)}`);
          return { message, bytes: encoder.encode(raw).byteLength };
        },
        async close() {},
      };
    },
  };
}

const legacySse: Channel = {
  label: '/sse, 2024-11-05',
  async connect(token) {
    const wire = new SseWire(new URL('/sse', ORIGIN).href, token, workerFetch);
    expect(await within('opening /sse', wire.open())).toBe(200);
    await within('initialize on /sse', wire.initialize());
    return {
      async call(name, args = {}) {
        const { status, message } = await within(`${name} on /sse`, wire.callTool(name, args));
        if (!message) throw new Error(`no answer to ${name} on /sse (POST ${status})`);
        return { message, bytes: wire.answerBytes.get(message.id ?? '') ?? Number.NaN };
      },
      close: () => wire.close(),
    };
  },
};

const CHANNELS: Channel[] = [streamableHttp('2025-11-25'), streamableHttp('2026-07-28'), streamableHttp('2025-11-25', MCP_AGENT_ENV), legacySse];

function resultOf(answer: Answer): Result {
  if (!answer.message.result) throw new Error(`a JSON-RPC error instead of a result: ${JSON.stringify(answer.message.error)}`);
  return answer.message.result;
}

function textOf(result: Result): string {
  return result.content?.map((part) => part.text).join('\n') ?? '';
}

async function userWithToken(label: string): Promise<{ user: GrantProps; token: string }> {
  const user: GrantProps = { ...ALICE, userId: `oidc-${label}-${crypto.randomUUID()}`, email: `${label}@example.com` };
  return { user, token: (await tokensFor(user)).access_token };
}

/**
 * Note `i`, exactly {@link NOTE_LENGTH} UTF-16 code units: mostly text that JSON escapes in places
 * (quotes, backslashes, newlines) with 2-, 3- and 4-byte UTF-8 characters; every hundredth is all
 * control characters, which JSON escapes to six bytes each: a page's largest possible note.
 */
function noteText(i: number): string {
  const label = `note ${String(i).padStart(4, '0')}: `;
  if (i % 100 === 50) return label + '\u0001'.repeat(NOTE_LENGTH - label.length);
  const phrase = `"quoted" \\ é € 😀\n`;
  let text = label;
  while (text.length + phrase.length <= NOTE_LENGTH) text += phrase;
  return text.padEnd(NOTE_LENGTH, '.');
}

describe(`notes_list over ${NOTE_COUNT} notes of ${NOTE_LENGTH} characters`, () => {
  const seeded: { id: string; text: string }[] = [];
  let token = '';

  beforeAll(async () => {
    const { user, token: userToken } = await userWithToken('many-notes');
    token = userToken;
    // Straight into the user's Durable Object: a thousand notes_add calls would only be slower.
    const notes = notesFor(env, user.userId);
    for (let i = 0; i < NOTE_COUNT; i++) {
      const text = noteText(i);
      expect(text.length).toBe(NOTE_LENGTH);
      const note = await notes.add(text);
      if ('error' in note) throw new Error(note.error);
      seeded.push({ id: note.id, text: note.text });
    }
    // At the limit: this is the most one user can have.
    expect('error' in (await notes.add('one too many'))).toBe(true);
  }, 120_000);

  for (const channel of CHANNELS) {
    it(`pages through them over ${channel.label}: each note exactly once, oldest first, every answer under 1 MiB and in time`, async () => {
      const client = await channel.connect(token);
      try {
        const listed: ListedNote[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const answer = await client.call('notes_list', cursor === undefined ? {} : { cursor });
          const result = resultOf(answer);
          expect(result.isError, textOf(result).slice(0, 300)).toBeFalsy();
          expect(answer.bytes).toBeLessThan(RESULT_CAP);
          // A page is small: its JSON twice (once as text, escaped again) is far under the cap.
          expect(answer.bytes).toBeLessThan(256 * 1024);
          const page = result.structuredContent as { notes: ListedNote[]; nextCursor?: string };
          expect(page.notes.length).toBeGreaterThan(0);
          // Under the text-copy threshold, so clients that read only `content` see the whole page.
          expect(JSON.parse(textOf(result))).toEqual(page);
          listed.push(...page.notes);
          cursor = page.nextCursor;
          pages++;
          expect(pages).toBeLessThanOrEqual(NOTE_COUNT);
        } while (cursor !== undefined);

        expect(listed.length).toBe(NOTE_COUNT);
        expect(new Set(listed.map((note) => note.id)).size).toBe(NOTE_COUNT);
        // Compared one by one, so a failure does not print ten megabytes.
        const misplaced = listed.flatMap((note, i) => (note.id === seeded[i]?.id && note.text === seeded[i]?.text ? [] : [i]));
        expect(misplaced).toEqual([]);
        expect(pages).toBeGreaterThan(1);
      } finally {
        await client.close();
      }
    }, 300_000);
  }
});

describe('notes_list cursors', () => {
  it('stay valid while notes are added and deleted between pages: no note twice, none that stayed skipped', async () => {
    const { user, token } = await userWithToken('cursor-churn');
    const notes = notesFor(env, user.userId);
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const note = await notes.add(noteText(i));
      if ('error' in note) throw new Error(note.error);
      ids.push(note.id);
    }
    const client = await streamableHttp('2026-07-28').connect(token);
    const first = resultOf(await client.call('notes_list')).structuredContent as { notes: ListedNote[]; nextCursor?: string };
    expect(first.nextCursor).toEqual(expect.any(String));
    const seen = first.notes.map((note) => note.id);
    expect(seen).toEqual(ids.slice(0, seen.length));

    // The note the cursor points after, and the one that would have come next, go; a new one comes.
    await notes.delete(seen.at(-1) ?? '');
    await notes.delete(ids[seen.length] ?? '');
    const added = await notes.add('added between pages');
    if ('error' in added) throw new Error(added.error);

    const rest: string[] = [];
    let cursor = first.nextCursor;
    while (cursor !== undefined) {
      const page = resultOf(await client.call('notes_list', { cursor })).structuredContent as { notes: ListedNote[]; nextCursor?: string };
      rest.push(...page.notes.map((note) => note.id));
      cursor = page.nextCursor;
    }
    expect(rest).toEqual([...ids.slice(seen.length + 1), added.id]);
  });

  it('answer a cursor that is not one of ours with an isError result that says what to pass instead', async () => {
    const { token } = await userWithToken('bad-cursor');
    const client = await streamableHttp('2026-07-28').connect(token);
    const base64url = (text: string) => btoa(text).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
    for (const cursor of ['', 'not a cursor', base64url('notes:0'), base64url('notes:007'), `${base64url('notes:4')}=`, base64url('other:4'), base64url('notes:99999999999999999'), 'A'.repeat(100)]) {
      const result = resultOf(await client.call('notes_list', { cursor }));
      expect(result.isError, cursor).toBe(true);
      expect(textOf(result)).toContain('Invalid cursor');
      expect(textOf(result)).toContain('nextCursor');
      expect(textOf(result)).toContain('without a cursor');
    }
  });
});

describe('the size of a tool result, on every transport', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** notes_list answering `value` (through toolJson, as every tool here does) instead of the user's notes. */
  function notesListReturns(value: Record<string, unknown>): void {
    vi.spyOn(notesList, 'run').mockImplementation(async () => toolJson(value));
  }

  /** `count` notes of 10,000 characters: about 10 KB of JSON each. */
  function bulk(count: number): Record<string, unknown> {
    return { notes: Array.from({ length: count }, (_, i) => ({ id: `note-${i}`, text: String(i).padEnd(NOTE_LENGTH, 'x'), createdAt: '2026-01-01T00:00:00.000Z' })), nextCursor: 'bm90ZXM6OTk' };
  }

  for (const channel of CHANNELS) {
    it(`refuses a result over 1 MiB over ${channel.label}: a short isError result that says how to ask for less, in time`, async () => {
      const { token } = await userWithToken('over-cap');
      notesListReturns(bulk(150));
      const client = await channel.connect(token);
      try {
        const answer = await client.call('notes_list');
        const result = resultOf(answer);
        expect(result.isError).toBe(true);
        expect(textOf(result)).toMatch(/^The result of notes_list is 1\.\d MiB, more than the 1\.0 MiB this server sends as one tool result/);
        expect(textOf(result)).toContain('cursor');
        expect(answer.bytes).toBeLessThan(4096);
      } finally {
        await client.close();
      }
    });

    it(`sends a result just under 1 MiB once, whole, over ${channel.label}: structuredContent, and a one-line summary as text`, async () => {
      const { token } = await userWithToken('under-cap');
      const value = bulk(95);
      notesListReturns(value);
      const client = await channel.connect(token);
      try {
        const answer = await client.call('notes_list');
        const result = resultOf(answer);
        expect(result.isError).toBeFalsy();
        expect(result.structuredContent).toEqual(value);
        expect(answer.bytes).toBeGreaterThan(900 * 1024);
        expect(answer.bytes).toBeLessThan(RESULT_CAP);
        const text = textOf(result);
        expect(text).not.toContain('\n');
        expect(text).toContain('structuredContent');
        // What a client that reads only the text still learns, a cursor included.
        expect(text).toContain('"notes": [95 items]');
        expect(text).toContain('"nextCursor": "bm90ZXM6OTk"');
      } finally {
        await client.close();
      }
    });
  }
});

describe('toolJson', () => {
  /** A value whose pretty-printed JSON is exactly `bytes` long. */
  function valueOfSize(bytes: number): Record<string, unknown> {
    const overhead = JSON.stringify({ text: '' }, null, 2).length;
    return { text: 'x'.repeat(bytes - overhead) };
  }

  it(`repeats a result's JSON as text up to ${TEXT_COPY_MAX} bytes, and above that sends it only as structuredContent`, () => {
    const atLimit = valueOfSize(TEXT_COPY_MAX);
    expect(toolJson(atLimit)).toEqual({ content: [{ type: 'text', text: JSON.stringify(atLimit, null, 2) }], structuredContent: atLimit });

    const over = valueOfSize(TEXT_COPY_MAX + 1);
    const result = toolJson(over);
    expect(result.structuredContent).toBe(over);
    expect(result.content).toHaveLength(1);
    expect(result.content[0]?.text).toMatch(/^This result is 65 KiB of JSON, too large to send twice: it is in structuredContent only\. Its fields: \{"text": \[a string of 65\d\d\d characters\]\}$/);
  });

  it('counts bytes, not characters: 3-byte characters reach the threshold at a third of the length', () => {
    const value = { text: '€'.repeat(Math.ceil(TEXT_COPY_MAX / 3)) };
    expect(toolJson(value).content[0]?.text).toMatch(/^This result is/);
  });
});
