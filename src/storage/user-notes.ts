/**
 * One Durable Object per user, addressed by the user id, holding that user's notes in SQLite.
 * Strongly consistent and private by construction: the only way in is `notesFor(env, userId)`,
 * and the user id comes from a verified token, never from tool arguments.
 */
import { DurableObject } from 'cloudflare:workers';

export const MAX_NOTE_LENGTH = 10_000;
/** Bounds one user's storage; a runaway client cannot grow an object without limit. */
export const MAX_NOTES_PER_USER = 1_000;

export interface Note {
  id: string;
  text: string;
  createdAt: string;
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

  list(): Note[] {
    return this.ctx.storage.sql
      .exec<{ id: string; text: string; created_at: string }>('SELECT id, text, created_at FROM notes ORDER BY rowid')
      .toArray()
      .map((row) => ({ id: row.id, text: row.text, createdAt: row.created_at }));
  }

  delete(id: string): boolean {
    return this.ctx.storage.sql.exec('DELETE FROM notes WHERE id = ?', id).rowsWritten > 0;
  }
}

export function notesFor(env: Env, userId: string): DurableObjectStub<UserNotes> {
  return env.USER_NOTES.get(env.USER_NOTES.idFromName(userId));
}
