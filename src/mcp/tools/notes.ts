/** Per-user notes, each user's in their own Durable Object: one user can never address another's. */
import { z } from 'zod';
import { MAX_NOTE_LENGTH, MAX_NOTES_PER_PAGE, MAX_PAGE_BYTES, notesFor } from '../../storage/user-notes';
import { defineTool, toolError, toolJson } from './define';

export const notesAdd = defineTool({
  name: 'notes_add',
  title: 'Add a note',
  description: 'Saves a note for the signed-in user and returns its id.',
  inputSchema: { text: z.string().min(1).max(MAX_NOTE_LENGTH).describe('The text of the note') },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  scopes: ['notes:write'],
  async run({ text }, { auth, env }) {
    const note = await notesFor(env, auth.user.userId).add(text);
    if ('error' in note) return toolError(note.error);
    return toolJson({ id: note.id, text: note.text, createdAt: note.createdAt });
  },
});

/**
 * Where the next page of notes_list starts: base64url of `notes:<position>`, the position being the
 * last listed note's rowid. It needs no signature: the user's Durable Object holds that user's notes
 * and nobody else's, so an altered cursor can only move within the caller's own notes. It is checked
 * strictly all the same (one spelling per position), so that a mangled cursor is reported, not
 * quietly read as another position.
 */
export function encodeCursor(position: number): string {
  return btoa(`notes:${position}`).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/** The position a cursor from {@link encodeCursor} names, or undefined for anything else. */
export function decodeCursor(cursor: string): number | undefined {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) return undefined;
  let decoded: string;
  try {
    decoded = atob(cursor.replaceAll('-', '+').replaceAll('_', '/'));
  } catch {
    return undefined;
  }
  const digits = /^notes:([1-9][0-9]{0,15})$/.exec(decoded)?.[1];
  if (digits === undefined) return undefined;
  const position = Number(digits);
  return Number.isSafeInteger(position) && encodeCursor(position) === cursor ? position : undefined;
}

export const notesList = defineTool({
  name: 'notes_list',
  title: 'List notes',
  description:
    `Lists the signed-in user's notes, oldest first, one page per call: at most ${MAX_NOTES_PER_PAGE} notes and about ${MAX_PAGE_BYTES / 1024} KiB. ` +
    'When more notes follow, the result has a nextCursor: call notes_list again with cursor set to it for the next page. ' +
    'A result without nextCursor is the last page.',
  inputSchema: {
    cursor: z
      .string()
      .optional()
      .describe('Where to continue: the nextCursor of the previous notes_list result, exactly as it was returned. Leave it out for the first page.'),
  },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  scopes: ['notes:read'],
  async run({ cursor }, { auth, env }) {
    const after = cursor === undefined ? 0 : decodeCursor(cursor);
    if (after === undefined) {
      return toolError(
        'Invalid cursor: pass the nextCursor of a previous notes_list result exactly as it was returned, or call notes_list without a cursor to start from the first note.',
      );
    }
    const page = await notesFor(env, auth.user.userId).listPage(after);
    return toolJson({ notes: page.notes, ...(page.after !== undefined && { nextCursor: encodeCursor(page.after) }) });
  },
});

export const notesDelete = defineTool({
  name: 'notes_delete',
  title: 'Delete a note',
  description: 'Deletes one of the signed-in user\'s notes by id.',
  inputSchema: { id: z.string().min(1).max(64).describe('The id returned by notes_add or notes_list') },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  scopes: ['notes:write'],
  async run({ id }, { auth, env }) {
    const deleted = await notesFor(env, auth.user.userId).delete(id);
    if (!deleted) return toolError(`No note with id "${id}". Call notes_list to see the ids of your notes.`);
    return toolJson({ deleted: id });
  },
});
