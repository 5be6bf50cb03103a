/**
 * One Durable Object per user, addressed by the user id, holding that user's notes in SQLite.
 * Strongly consistent and private by construction: the only way in is `notesFor(env, userId)`,
 * and the user id comes from a verified token, never from tool arguments.
 */
import { DurableObject } from 'cloudflare:workers';

export const MAX_NOTE_LENGTH = 10_000;
/** Bounds one user's storage; a runaway client cannot grow an object without limit. */
export const MAX_NOTES_PER_USER = 1_000;

/**
 * One page of notes holds at most this many notes...
 * (1,000 notes of 10,000 characters are about 10 MB: far more than one message should carry.)
 */
export const MAX_NOTES_PER_PAGE = 100;
/**
 * ...and at most this many bytes of notes as JSON, except that a page always holds at least one
 * note (one note is at most about 60 KB of JSON: 10,000 control characters, each escaped as \uXXXX).
 * With the pretty-printing allowance below, a full page's JSON stays under the 64 KiB up to which
 * a tool result repeats its JSON as text (see ../mcp/tools/define.ts), so clients that read only
 * the text content see every note of a page too.
 */
export const MAX_PAGE_BYTES = 48 * 1024;
/** What a note costs beyond its compact JSON once the tool result pretty-prints it (indentation, newlines: 34 bytes, rounded up). */
const PRETTY_PRINT_ALLOWANCE = 64;

export interface Note {
  id: string;
  text: string;
  createdAt: string;
}

export interface NotesPage {
  notes: Note[];
  /** Where the next page starts (the position of this page's last note), when more notes follow. */
  after?: number;
}

const encoder = new TextEncoder();

/** The bytes `note` adds to a page: its JSON, in UTF-8, plus the pretty-printing allowance. */
function pageBytesOf(note: Note): number {
  return encoder.encode(JSON.stringify(note)).byteLength + PRETTY_PRINT_ALLOWANCE;
}

export class UserNotes extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      'CREATE TABLE IF NOT EXISTS notes (id TEXT PRIMARY KEY, text TEXT NOT NULL, created_at TEXT NOT NULL)',
    );
  }

  /** The new note, or `{ error }` when the user is at the limit (an expected outcome, not a fault). */
  add(text: string): Note | { error: string } {
    const count = this.ctx.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM notes').one().n;
    if (count >= MAX_NOTES_PER_USER) return { error: `You already have ${MAX_NOTES_PER_USER} notes, the most one user can keep. Delete some first.` };
    const note: Note = { id: crypto.randomUUID(), text, createdAt: new Date().toISOString() };
    this.ctx.storage.sql.exec('INSERT INTO notes (id, text, created_at) VALUES (?, ?, ?)', note.id, note.text, note.createdAt);
    return note;
  }

  /**
   * The notes after position `after` (0: from the first), oldest first, at most
   * {@link MAX_NOTES_PER_PAGE} of them and {@link MAX_PAGE_BYTES} of JSON. A position is a note's
   * rowid, and SQLite numbers each new note above every existing one, so a position stays valid
   * while notes are added and deleted between pages: no note is listed twice, and no note that
   * exists throughout is skipped. Positions need no secrecy: this object holds one user's notes only.
   */
  listPage(after: number): NotesPage {
    const rows = this.ctx.storage.sql.exec<{ position: number; id: string; text: string; created_at: string }>(
      'SELECT rowid AS position, id, text, created_at FROM notes WHERE rowid > ? ORDER BY rowid LIMIT ?',
      after,
      MAX_NOTES_PER_PAGE + 1,
    );
    const notes: Note[] = [];
    let bytes = 0;
    let last = after;
    for (const row of rows) {
      const note: Note = { id: row.id, text: row.text, createdAt: row.created_at };
      const size = pageBytesOf(note);
      // A note that does not fit (by count or by size) starts the next page.
      if (notes.length === MAX_NOTES_PER_PAGE || (notes.length > 0 && bytes + size > MAX_PAGE_BYTES)) return { notes, after: last };
      notes.push(note);
      bytes += size;
      last = row.position;
    }
    return { notes };
  }

  delete(id: string): boolean {
    return this.ctx.storage.sql.exec('DELETE FROM notes WHERE id = ?', id).rowsWritten > 0;
  }
}

export function notesFor(env: Env, userId: string): DurableObjectStub<UserNotes> {
  return env.USER_NOTES.get(env.USER_NOTES.idFromName(userId));
}
