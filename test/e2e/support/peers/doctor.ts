/**
 * The doctor against a peer, signing in the way a person would at a server whose pages we did not
 * write: interactively (no `--login`, which knows only this project's pages), with the user's part
 * done over plain HTTP by ./user-agent.ts as soon as the doctor prints the sign-in URL.
 */
import { runDoctor, type DoctorOptions, type DoctorReport, type DoctorRun, type ItemId, type ItemResult } from '../../../../cli/doctor/run.ts';
import { signInOverHttp, type Credentials } from './user-agent.ts';

/** Long enough for a sign-in over HTTP through an IdP; short enough that a broken one fails the test quickly. */
const SIGN_IN_TIMEOUT_MS = 15_000;

export interface PeerRun {
  report: DoctorRun;
  /** Where the user's browser was sent back to, if the doctor asked for a sign-in. */
  returnedTo: URL | undefined;
  /** Why the user's part failed, if it did (the doctor then reports its own time-out). */
  signInError: string | undefined;
  /** What the doctor said to the person running it, and its --verbose log when asked for. */
  said: string[];
}

export async function doctorAsUser(url: string, options: Partial<DoctorOptions> & { credentials?: Credentials } = {}): Promise<PeerRun> {
  const said: string[] = [];
  let returnedTo: URL | undefined;
  let signInError: string | undefined;
  let userDone: Promise<void> | undefined;
  const { credentials, ...doctorOptions } = options;
  const report = await runDoctor({
    url,
    openBrowser: false,
    authTimeoutMs: SIGN_IN_TIMEOUT_MS,
    ...doctorOptions,
    log: (line) => {
      said.push(line);
      const signIn = /Sign in to continue: (\S+)/.exec(line)?.[1];
      if (!signIn || userDone) return;
      const redirectUri = new URL(signIn).searchParams.get('redirect_uri') ?? '';
      userDone = signInOverHttp(signIn, redirectUri, credentials).then(
        (url) => void (returnedTo = url),
        (error: unknown) => void (signInError = error instanceof Error ? error.message : String(error)),
      );
    },
  });
  await userDone;
  return { report, returnedTo, signInError, said };
}

export function item(report: DoctorReport, id: ItemId): ItemResult {
  const found = report.items.find((candidate) => candidate.id === id);
  if (!found) throw new Error(`no item ${id}`);
  return found;
}

/** `status id: detail` of every item that did not pass, for failure messages that show the whole run. */
export function nonPassing(report: DoctorReport): string[] {
  return report.items.filter((candidate) => candidate.status !== 'pass').map((candidate) => `${candidate.status} ${candidate.id}: ${candidate.detail}`);
}
