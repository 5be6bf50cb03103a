/**
 * How a report and the `--verbose` HTTP log are shown: a checklist table for people, JSON for
 * machines. Pure string building; the entry point decides where it goes.
 */
import { STEP_TITLES, type DoctorRun, type Status } from './checklist.ts';
import type { RecordedExchange } from './redact.ts';
import { LEVEL_LABELS, type ClientVerdict, type VerdictLevel } from './verdict.ts';

/** Long bodies are cut in the log: a tools/list can be long, and nobody reads all of it. */
const LOGGED_BODY_MAX_CHARS = 2_000;

const LABELS: Readonly<Record<Status, string>> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' };
/** ANSI colours: green, yellow, red, dim. */
const COLOURS: Readonly<Record<Status, string>> = { pass: '\x1b[32m', warn: '\x1b[33m', fail: '\x1b[31m', skip: '\x1b[2m' };
const RESET = '\x1b[0m';

/** How a verdict is coloured: as the item status it is closest to. */
const VERDICT_STATUS: Readonly<Record<VerdictLevel, Status>> = { connects: 'pass', reauthorize: 'warn', 'other-mode': 'warn', 'cannot-connect': 'fail', undetermined: 'skip' };

/** `table`: every client's verdict as a compatibility table, after the chosen client's verdict. */
export function renderText(report: DoctorRun, options: { colour?: boolean; table?: boolean } = {}): string {
  const paint = (status: Status, text: string) => (options.colour ? `${COLOURS[status]}${text}${RESET}` : text);
  const titleWidth = Math.max(...report.items.map((item) => item.title.length));
  const lines = [`MCP doctor: ${report.url} against what ${report.verdict.name} needs`];
  let step: string | undefined;
  for (const item of report.items) {
    if (item.step !== step) {
      step = item.step;
      lines.push('', STEP_TITLES[item.step]);
    }
    lines.push(`  ${paint(item.status, LABELS[item.status])}  ${item.title.padEnd(titleWidth)}  ${item.detail}`);
    if (item.fix) lines.push(`        ${' '.repeat(titleWidth)}  ${paint(item.status, 'fix:')} ${item.fix}`);
  }
  const { pass, warn, fail, skip } = report.counts;
  lines.push('', `${pass} passed, ${warn} ${warn === 1 ? 'warning' : 'warnings'}, ${fail} failed, ${skip} skipped in ${(report.durationMs / 1000).toFixed(1)} s.`);
  const { verdict } = report;
  lines.push(`${verdict.name}: ${paint(VERDICT_STATUS[verdict.level], LEVEL_LABELS[verdict.level].toUpperCase())}: ${verdict.summary}${verdict.item ? ` (${verdict.item})` : ''}.`);
  for (const need of verdict.unchecked) lines.push(`  not checked: ${need}`);
  if (options.table) lines.push('', ...compatibilityTable(report.verdicts, paint));
  return lines.join('\n');
}

/** Every client's verdict, a row each: the client, the verdict, and why. */
export function compatibilityTable(verdicts: readonly ClientVerdict[], paint: (status: Status, text: string) => string = (_status, text) => text): string[] {
  const nameWidth = Math.max('client'.length, ...verdicts.map((verdict) => verdict.name.length));
  const levelWidth = Math.max('verdict'.length, ...verdicts.map((verdict) => LEVEL_LABELS[verdict.level].length));
  return [
    `${'client'.padEnd(nameWidth)}  ${'verdict'.padEnd(levelWidth)}  why`,
    ...verdicts.map((verdict) => `${verdict.name.padEnd(nameWidth)}  ${paint(VERDICT_STATUS[verdict.level], LEVEL_LABELS[verdict.level].padEnd(levelWidth))}  ${verdict.summary}`),
  ];
}

export function renderJson(report: DoctorRun): string {
  return JSON.stringify(report, null, 2);
}

/** One exchange as log lines; it must already be redacted. */
export function formatExchangeLines(exchange: RecordedExchange): string[] {
  const { request, response } = exchange;
  const lines = [`→ #${exchange.id} ${request.method} ${request.url}`];
  for (const [name, value] of request.headers) lines.push(`    ${name}: ${value}`);
  if (request.body !== undefined) lines.push(`    ${shorten(request.body)}`);
  if (response) {
    lines.push(`← #${exchange.id} ${response.status} ${response.statusText} (${exchange.durationMs} ms)`);
    for (const [name, value] of response.headers) lines.push(`    ${name}: ${value}`);
    if (response.body) lines.push(`    ${shorten(response.body)}`);
  } else {
    lines.push(`← #${exchange.id} failed after ${exchange.durationMs} ms: ${exchange.error ?? 'unknown error'}`);
  }
  return lines;
}

function shorten(body: string): string {
  const oneLine = body.replace(/\s*\n\s*/g, ' ');
  return oneLine.length > LOGGED_BODY_MAX_CHARS ? `${oneLine.slice(0, LOGGED_BODY_MAX_CHARS)}… (${oneLine.length - LOGGED_BODY_MAX_CHARS} more characters)` : oneLine;
}
