#!/usr/bin/env node
/**
 * The command line: `mcp-doctor [doctor] <mcp-url> [options]`, `npm run doctor -- <mcp-url>`, and
 * once published `npx <package> doctor <mcp-url>`. Prints the checklist (or JSON) to stdout, the
 * verbose log and prompts to stderr, and exits with the verdict's status (verdict.ts: 0 connects and
 * stays connected, 1 cannot connect, 3 must re-authorize, 4 only if set up by hand, 5 undetermined),
 * 2 on a usage error.
 */
import { chromiumProblem } from './lib/chromium.ts';
import { parseDoctorArgs, USAGE } from './doctor/args.ts';
import { renderJson, renderText } from './doctor/report.ts';
import { runDoctor } from './doctor/run.ts';
import { VERDICT_EXIT_CODES } from './doctor/verdict.ts';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

async function main(argv: readonly string[]): Promise<number> {
  const command = parseDoctorArgs(argv);
  if (command.kind === 'help') {
    await write(process.stdout, `${USAGE}\n`);
    return EXIT_OK;
  }
  if (command.kind === 'usage-error') {
    await write(process.stderr, `mcp-doctor: ${command.message}\n\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  if (command.options.login) {
    const problem = headlessBrowserProblem();
    if (problem) {
      await write(process.stderr, `mcp-doctor: ${problem}\n`);
      return EXIT_USAGE;
    }
  }
  const report = await runDoctor(command.options);
  const colour = process.stdout.isTTY === true && !process.env.NO_COLOR;
  await write(process.stdout, `${command.json ? renderJson(report) : renderText(report, { colour, table: command.table })}\n`);
  return VERDICT_EXIT_CODES[report.verdict.level];
}

/**
 * `--login` needs playwright-core and a Chromium; say so before starting, not halfway through. Only
 * resolved here, not loaded: loading takes a second, which the run spends while discovery is under
 * way instead (see run.ts).
 */
function headlessBrowserProblem(): string | undefined {
  try {
    import.meta.resolve('playwright-core');
  } catch {
    return '--login needs playwright-core beside the doctor (npx -p mcp-doctor -p playwright-core mcp-doctor …, or npm install playwright-core where mcp-doctor is installed), or sign in interactively without --login';
  }
  // The choice browser-login.ts makes, without unpacking or loading anything.
  const problem = chromiumProblem();
  return problem === undefined ? undefined : `--login needs a Chromium: ${problem}; or sign in interactively without --login`;
}

function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  // Resolves on errors too: a reader that went away (`| head`, EPIPE) is no reason to crash.
  return new Promise((resolve) => stream.write(text, () => resolve()));
}

for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

main(process.argv.slice(2)).then(
  // Exit at once: idle keep-alive connections and closed event streams would hold the process for seconds.
  (code) => process.exit(code),
  async (error: unknown) => {
    await write(process.stderr, `mcp-doctor: the doctor itself failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(EXIT_FAILED);
  },
);
