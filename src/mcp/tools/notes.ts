/** Per-user notes, each user's in their own Durable Object: one user can never address another's. */
import { z } from 'zod';
import { MAX_NOTE_LENGTH, notesFor } from '../../storage/user-notes';
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

export const notesList = defineTool({
  name: 'notes_list',
  title: 'List notes',
  description: "Lists the signed-in user's notes, oldest first.",
  inputSchema: {},
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  scopes: ['notes:read'],
  async run(_args, { auth, env }) {
    return toolJson({ notes: await notesFor(env, auth.user.userId).list() });
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
