/**
 * Row "restart": the Worker's state kept in a folder across `wrangler dev` runs on the same port
 * (tokens are bound to the origin), with one dev IdP running throughout (only the Worker restarts).
 *
 * 1. Clean stop and start: clients (used and unused), grants, access and refresh tokens (some
 *    rotated before the stop) and notes written before the stop all work after the start.
 * 2. kill -9 of workerd under write load: notes written, clients registered and refresh tokens
 *    rotated as fast as they go; workerd (the one running the Worker, its Durable Objects and local
 *    KV) is killed with SIGKILL in the middle; wrangler restarts it by itself and the writers carry
 *    on until a write sent after the kill is acknowledged, and a little more. Then the Worker is stopped and started again on the same state, and every acknowledged
 *    write is read back. A write whose answer was lost in the kill may or may not have happened;
 *    those are counted, not judged.
 */
import type * as oauth from 'oauth4webapi';
import { discover, refresh, type Discovery, type RegisteredClient } from '../cli/lib/oauth-client.ts';
import { startDevIdp } from '../dev/idp/server.ts';
import type { McpWire, ProtocolRevision } from '../test/support/mcp-wire.ts';
import { authorizeShowsConsent, callTool, errorText, mcpClient, readNotes, register, signIn, USERS, type User } from './client.ts';
import { elapsedSince, freePort, log, mapLimit, persistentStateHome, sleep, startPersistentWorker, track, workerdOfGroup, type PersistentWorker } from './harness.ts';
import type { Check } from './report.ts';

const CLIENTS = 8;
const UNUSED_CLIENTS = 2;
const NOTES_BEFORE_STOP = 10;
/** Write load before the kill; after it, the writers go on until workerd is back and this long more (at most RECOVERY_BOUND_MS in all). */
const LOAD_BEFORE_KILL_MS = 2_500;
const LOAD_AFTER_RECOVERY_MS = 2_000;
const RECOVERY_BOUND_MS = 30_000;
/** Each writer stops at this many notes (a user may keep 1,000). */
const MAX_WRITES_PER_WRITER = 150;
const REFRESH_EVERY_MS = 250;

interface Client {
  index: number;
  user: User;
  protocol: ProtocolRevision;
  registered: RegisteredClient;
  tokens: oauth.TokenEndpointResponse;
  wire: McpWire;
}

export interface RestartDetails {
  clean: {
    stopSeconds: number;
    startSeconds: number;
    clients: { total: number; consentShown: number };
    accessTokens: { total: number; working: number };
    refreshTokens: { total: number; working: number; rotatedBeforeStop: number };
    notes: { acknowledged: number; readBack: number };
    newSignIn: string;
    problems: string[];
  };
  kill: {
    workerdPid: number | undefined;
    beforeKill: { notes: number; registrations: number; refreshes: number };
    acknowledged: { notes: number; registrations: number; refreshes: number };
    /** Writes whose answer never came (error, reset, timeout): outcome unknown. */
    unanswered: { notes: number; registrations: number; refreshes: number; byProblem: Record<string, number> };
    unansweredNotesFound: number;
    /** From the kill to the first write acknowledged after it (wrangler restarting workerd). */
    recoverySeconds: number | undefined;
    startSeconds: number;
    lost: { notes: number; registrations: number; samples: string[] };
    duplicatedNotes: number;
    lastRefreshToken: string;
    lastAccessToken: string;
    phase1NotesAfterKill: number;
  };
}

export async function restartRow(runId: string): Promise<{ checks: Check[]; details: RestartDetails }> {
  const port = await freePort();
  const origin = `http://localhost:${port}`;
  const idp = await startDevIdp({ port: 0, redirectUris: [`${origin}/callback`, `http://127.0.0.1:${port}/callback`] });
  const closeIdp = track('restart dev IdP', () => idp.close());
  const home = persistentStateHome();
  const vars = { UPSTREAM: 'oidc', OIDC_ISSUER: idp.issuer, OIDC_CLIENT_ID: idp.clientId, OIDC_CLIENT_SECRET: idp.clientSecret, RATE_LIMITS: 'off' };
  let worker: PersistentWorker | undefined;
  try {
    log(`restart: starting the Worker with its state in ${home.dir}…`);
    worker = await startPersistentWorker('restart Worker (1st run)', home, port, vars);
    const mcpUrl = worker.mcpUrl;
    const discovery = await discover(mcpUrl);

    // ------------------------------------------------------------------ before the clean stop
    const clients = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, index): Promise<Client> => {
        const user = USERS[index % 2] as User;
        const protocol: ProtocolRevision = index % 4 < 2 ? '2025-11-25' : '2026-07-28';
        // Half confidential (MCP Manager), half public (a desktop client).
        const registered = await register(discovery, `Restart ${index}`, index < CLIENTS / 2);
        const tokens = await signIn(discovery, registered, user);
        return { index, user, protocol, registered, tokens, wire: await mcpClient(mcpUrl, tokens.access_token, protocol) };
      }),
    );
    const unused = await Promise.all(Array.from({ length: UNUSED_CLIENTS }, (_, index) => register(discovery, `Restart unused ${index}`)));
    const notesBefore = new Map<string, { text: string; user: string }>();
    await Promise.all(
      clients.map(async (client) => {
        for (let n = 0; n < NOTES_BEFORE_STOP; n++) {
          const text = `restart ${runId} client ${client.index} note ${n}`;
          const added = await callTool(client.wire, 'notes_add', { text });
          if (!added.ok || typeof added.structured?.id !== 'string') throw new Error(`notes_add before the stop: ${added.problem}`);
          notesBefore.set(added.structured.id, { text, user: client.user.login });
        }
      }),
    );
    // Half of the grants have had their refresh token rotated before the stop.
    let rotated = 0;
    for (const client of clients.slice(0, CLIENTS / 2)) {
      client.tokens = await refresh(discovery.server, client.registered, client.tokens.refresh_token as string);
      client.wire.useToken(client.tokens.access_token);
      rotated++;
    }

    log('restart: clean stop and start…');
    let began = performance.now();
    await worker.stop();
    const stopSeconds = elapsedSince(began);
    began = performance.now();
    worker = await startPersistentWorker('restart Worker (2nd run)', home, port, vars);
    const startSeconds = elapsedSince(began);

    const problems: string[] = [];
    const authorizationEndpoint = discovery.server.authorization_endpoint as string;
    const consent = await mapLimit([...clients.map((client) => client.registered), ...unused], 8, async (registered) => {
      const answer = await authorizeShowsConsent(authorizationEndpoint, registered.client.client_id);
      if (!answer.ok) problems.push(`client ${registered.client.client_id}: /authorize HTTP ${answer.status}`);
      return answer.ok;
    });
    const accessWorking = await mapLimit(clients, 8, async (client) => {
      const whoami = await callTool(client.wire, 'whoami');
      const ok = whoami.ok && whoami.structured?.email === client.user.email;
      if (!ok) problems.push(`client ${client.index}: access token: ${whoami.problem ?? 'wrong user'}`);
      return ok;
    });
    const readBack = await countReadBack(clients, notesBefore);
    if (readBack.count !== notesBefore.size) problems.push(`notes: ${notesBefore.size - readBack.count} of ${notesBefore.size} missing`);
    const refreshWorking = await mapLimit(clients, 8, async (client) => {
      try {
        client.tokens = await refresh(discovery.server, client.registered, client.tokens.refresh_token as string);
        client.wire.useToken(client.tokens.access_token);
        const whoami = await callTool(client.wire, 'whoami');
        if (!whoami.ok) throw new Error(`whoami with the refreshed token: ${whoami.problem}`);
        return true;
      } catch (error) {
        problems.push(`client ${client.index}: refresh: ${errorText(error)}`);
        return false;
      }
    });
    let newSignIn = 'ok';
    try {
      // A new authorization of the same client by the same user replaces its grant (the provider
      // revokes the earlier one): from here on, client 0 uses the new tokens.
      const first = clients[0] as Client;
      first.tokens = await signIn(discovery, first.registered, first.user);
      first.wire.useToken(first.tokens.access_token);
      const whoami = await callTool(first.wire, 'whoami');
      if (!whoami.ok) newSignIn = `whoami: ${whoami.problem}`;
    } catch (error) {
      newSignIn = errorText(error);
    }
    if (newSignIn !== 'ok') problems.push(`a new sign-in with an existing client: ${newSignIn}`);
    const clean: RestartDetails['clean'] = {
      stopSeconds,
      startSeconds,
      clients: { total: consent.length, consentShown: consent.filter(Boolean).length },
      accessTokens: { total: clients.length, working: accessWorking.filter(Boolean).length },
      refreshTokens: { total: clients.length, working: refreshWorking.filter(Boolean).length, rotatedBeforeStop: rotated },
      notes: { acknowledged: notesBefore.size, readBack: readBack.count },
      newSignIn,
      problems,
    };
    log(`restart: after a clean restart: ${problems.length === 0 ? 'everything works' : problems.join('; ')}`);

    // ------------------------------------------------------------------ kill -9 under write load
    const kill = await killUnderLoad(worker, discovery, clients, runId);
    log(`restart: kill -9 of workerd ${kill.workerdPid}; stopping and starting the Worker on the same state…`);
    await worker.stop();
    began = performance.now();
    worker = await startPersistentWorker('restart Worker (3rd run)', home, port, vars);
    const thirdStart = elapsedSince(began);

    const killLost: string[] = [];
    const readers = readersByUser(clients);
    const allNotes = new Map<string, string>();
    for (const reader of readers.values()) for (const [id, text] of await readNotes(reader.wire)) allNotes.set(id, text);
    for (const [id, note] of kill.notes) if (allNotes.get(id) !== note.text) killLost.push(`note ${id} "${note.text}"`);
    const texts = [...allNotes.values()];
    const duplicatedNotes = texts.length - new Set(texts).size;
    const unansweredNotesFound = kill.unansweredNoteTexts.filter((text) => texts.includes(text)).length;
    const phase1NotesAfterKill = [...notesBefore].filter(([id, note]) => allNotes.get(id) === note.text).length;
    const registrationsOk = await mapLimit(kill.registrations, 16, async (clientId) => {
      const answer = await authorizeShowsConsent(authorizationEndpoint, clientId);
      if (!answer.ok) killLost.push(`client ${clientId}: /authorize HTTP ${answer.status}`);
      return answer.ok;
    });
    let lastRefreshToken = 'ok';
    try {
      const refreshed = await refresh(discovery.server, kill.refresher.registered, kill.refresher.refreshToken);
      const whoami = await callTool(await mcpClient(mcpUrl, refreshed.access_token, '2026-07-28'), 'whoami');
      if (!whoami.ok) lastRefreshToken = `whoami after refresh: ${whoami.problem}`;
    } catch (error) {
      lastRefreshToken = errorText(error);
    }
    const lastAccess = await callTool(await mcpClient(mcpUrl, kill.refresher.accessToken, '2026-07-28'), 'whoami');
    const lastAccessToken = lastAccess.ok ? 'ok' : (lastAccess.problem ?? 'failed');

    const killDetails: RestartDetails['kill'] = {
      workerdPid: kill.workerdPid,
      beforeKill: kill.beforeKill,
      acknowledged: { notes: kill.notes.size, registrations: kill.registrations.length, refreshes: kill.refreshes },
      unanswered: { notes: kill.unansweredNoteTexts.length, registrations: kill.unansweredRegistrations, refreshes: kill.unansweredRefreshes, byProblem: countBy(kill.unansweredSamples) },
      unansweredNotesFound,
      recoverySeconds: kill.recoverySeconds,
      startSeconds: thirdStart,
      lost: { notes: killLost.filter((line) => line.startsWith('note')).length, registrations: registrationsOk.filter((ok) => !ok).length, samples: killLost.slice(0, 10) },
      duplicatedNotes,
      lastRefreshToken,
      lastAccessToken,
      phase1NotesAfterKill,
    };
    log(
      `restart: after kill -9: ${killDetails.acknowledged.notes} acknowledged notes, ${killDetails.lost.notes} lost; ${killDetails.acknowledged.registrations} registrations, ${killDetails.lost.registrations} lost; last refresh token ${lastRefreshToken}, last access token ${lastAccessToken}`,
    );

    const cleanPass = problems.length === 0;
    const k = killDetails;
    const checks: Check[] = [
      {
        row: 'restart',
        name: 'clean stop and start (same state, same port)',
        summary: cleanPass ? `${clean.clients.total} clients, ${clients.length} grants, their access and refresh tokens, ${clean.notes.acknowledged} notes: all work` : `${problems.length} problems: ${problems[0]}`,
        result: `${clean.clients.consentShown}/${clean.clients.total} clients known (${UNUSED_CLIENTS} never used), ${clean.accessTokens.working}/${clean.accessTokens.total} access tokens work, ${clean.refreshTokens.working}/${clean.refreshTokens.total} refresh tokens refresh (${rotated} rotated before the stop), ${clean.notes.readBack}/${clean.notes.acknowledged} notes read back, a new sign-in ${newSignIn}; restart ${stopSeconds.toFixed(1)} s + ${startSeconds.toFixed(1)} s`,
        rule: 'every client, grant, access token, refresh token and note from before the stop works after the start',
        pass: cleanPass,
      },
      {
        row: 'restart',
        name: 'kill -9 of workerd under write load, then a stop and start on the same state',
        summary: `${k.acknowledged.notes} notes, ${k.acknowledged.registrations} registrations, ${k.acknowledged.refreshes} refreshes acknowledged; ${k.lost.notes + k.lost.registrations} lost; tokens ${lastRefreshToken === 'ok' && lastAccessToken === 'ok' ? 'work' : 'FAIL'}; workerd back in ${k.recoverySeconds === undefined ? 'never' : `${k.recoverySeconds.toFixed(1)} s`}`,
        result:
          `acknowledged: ${k.acknowledged.notes} notes (${k.beforeKill.notes} before the kill), ${k.acknowledged.registrations} registrations, ${k.acknowledged.refreshes} refresh rotations; ` +
          `lost: ${k.lost.notes} notes, ${k.lost.registrations} registrations; last refresh token ${lastRefreshToken}, last access token ${lastAccessToken}; ` +
          `unanswered at the kill: ${k.unanswered.notes} notes (${unansweredNotesFound} written), ${k.unanswered.registrations} registrations, ${k.unanswered.refreshes} refreshes; ` +
          `writes acknowledged again ${k.recoverySeconds === undefined ? 'never' : `${k.recoverySeconds.toFixed(1)} s`} after the kill; ${duplicatedNotes} duplicated; ${phase1NotesAfterKill}/${notesBefore.size} notes from before the clean restart still there`,
        rule: 'writes acknowledged before and after the kill; 0 acknowledged notes or registrations lost, none duplicated; the last acknowledged refresh and access tokens work',
        pass:
          k.beforeKill.notes > 0 &&
          k.recoverySeconds !== undefined &&
          k.lost.notes === 0 &&
          k.lost.registrations === 0 &&
          lastRefreshToken === 'ok' &&
          lastAccessToken === 'ok' &&
          phase1NotesAfterKill === notesBefore.size &&
          duplicatedNotes === 0,
      },
    ];
    return { checks, details: { clean, kill: killDetails } };
  } finally {
    await worker?.stop();
    await closeIdp();
    home.remove();
  }
}

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

function readersByUser(clients: readonly Client[]): Map<string, Client> {
  const readers = new Map<string, Client>();
  for (const client of clients) if (!readers.has(client.user.login)) readers.set(client.user.login, client);
  return readers;
}

async function countReadBack(clients: readonly Client[], notes: Map<string, { text: string; user: string }>): Promise<{ count: number }> {
  let count = 0;
  for (const [login, reader] of readersByUser(clients)) {
    const stored = await readNotes(reader.wire);
    for (const [id, note] of notes) if (note.user === login && stored.get(id) === note.text) count++;
  }
  return { count };
}

interface KillOutcome {
  workerdPid: number | undefined;
  beforeKill: { notes: number; registrations: number; refreshes: number };
  notes: Map<string, { text: string }>;
  unansweredNoteTexts: string[];
  registrations: string[];
  unansweredRegistrations: number;
  refreshes: number;
  unansweredRefreshes: number;
  unansweredSamples: string[];
  refresher: { registered: RegisteredClient; refreshToken: string; accessToken: string };
  recoverySeconds: number | undefined;
}

async function killUnderLoad(worker: PersistentWorker, discovery: Discovery, clients: Client[], runId: string): Promise<KillOutcome> {
  const refresherClient = clients[clients.length - 1] as Client;
  const outcome: KillOutcome = {
    workerdPid: undefined,
    beforeKill: { notes: 0, registrations: 0, refreshes: 0 },
    notes: new Map(),
    unansweredNoteTexts: [],
    registrations: [],
    unansweredRegistrations: 0,
    refreshes: 0,
    unansweredRefreshes: 0,
    unansweredSamples: [],
    refresher: { registered: refresherClient.registered, refreshToken: refresherClient.tokens.refresh_token as string, accessToken: refresherClient.tokens.access_token },
    recoverySeconds: undefined,
  };
  let running = true;
  let killedAt: number | undefined;
  /** A write sent after the kill was acknowledged: workerd is back. */
  const acknowledged = (sentAt: number) => {
    if (killedAt !== undefined && sentAt > killedAt && outcome.recoverySeconds === undefined) outcome.recoverySeconds = elapsedSince(killedAt);
  };

  const writers = clients.map(async (client) => {
    for (let n = 0; running && n < MAX_WRITES_PER_WRITER; n++) {
      const text = `kill ${runId} client ${client.index} write ${n}`;
      const sentAt = performance.now();
      const added = await callTool(client.wire, 'notes_add', { text });
      if (added.ok && typeof added.structured?.id === 'string') {
        outcome.notes.set(added.structured.id, { text });
        acknowledged(sentAt);
      } else {
        outcome.unansweredNoteTexts.push(text);
        outcome.unansweredSamples.push(`notes_add: ${added.problem}`);
      }
    }
  });
  const registrar = (async () => {
    for (let n = 0; running; n++) {
      const sentAt = performance.now();
      try {
        outcome.registrations.push((await register(discovery, `Kill ${n}`)).client.client_id);
        acknowledged(sentAt);
      } catch (error) {
        outcome.unansweredRegistrations++;
        outcome.unansweredSamples.push(`register: ${errorText(error)}`);
      }
    }
  })();
  const refresher = (async () => {
    while (running) {
      try {
        const tokens = await refresh(discovery.server, outcome.refresher.registered, outcome.refresher.refreshToken);
        outcome.refresher.refreshToken = tokens.refresh_token as string;
        outcome.refresher.accessToken = tokens.access_token;
        outcome.refreshes++;
      } catch (error) {
        // The answer was lost or refused: keep the last acknowledged token (its grace covers a lost answer).
        outcome.unansweredRefreshes++;
        outcome.unansweredSamples.push(`refresh: ${errorText(error)}`);
      }
      await sleep(REFRESH_EVERY_MS);
    }
  })();

  log(`restart: write load (${clients.length} note writers, a registrar, a refresher) for ${LOAD_BEFORE_KILL_MS / 1000} s, then kill -9 of workerd…`);
  await sleep(LOAD_BEFORE_KILL_MS);
  const workerd = workerdOfGroup(worker.worker.processGroup);
  outcome.workerdPid = workerd?.pid;
  outcome.beforeKill = { notes: outcome.notes.size, registrations: outcome.registrations.length, refreshes: outcome.refreshes };
  if (workerd) {
    process.kill(workerd.pid, 'SIGKILL');
    killedAt = performance.now();
  } else {
    log('restart: no workerd with an inspector found in the Worker\'s process group');
  }
  const giveUp = performance.now() + RECOVERY_BOUND_MS;
  while (killedAt !== undefined && outcome.recoverySeconds === undefined && performance.now() < giveUp) await sleep(100);
  await sleep(LOAD_AFTER_RECOVERY_MS);
  running = false;
  await Promise.all([...writers, registrar, refresher]);
  return outcome;
}
