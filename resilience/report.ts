/**
 * What a resilience run found: the JSON document written to resilience/results/, and the table
 * printed on stdout (plain, or Markdown for the README).
 */

import type { MachineInfo } from '../scripts/run-info.ts';

export type RowName = 'load' | 'registration burst' | 'restart' | 'faults' | 'rate limits';

/** One line of the table: something measured, the rule it is judged by, and the verdict. */
export interface Check {
  row: RowName;
  name: string;
  /** The result in a few words, for the table on stdout. */
  summary: string;
  /** The result in full. */
  result: string;
  rule: string;
  pass: boolean;
}

/** What a person and the client saw at one step of a sign-in with the IdP faulted, then after recovery. */
export interface FaultObservation {
  step: string;
  fault: 'killed' | 'hung';
  /** The pass rule of this step. */
  rule: string;
  /** Both, in a few words. */
  summary: string;
  /** What the browser showed when the step needing the IdP was taken. */
  user: string;
  /** What reached the client's redirect URI (nothing, or an error with state and iss checked). */
  client: string;
  /** How long the person waited for that answer, s. */
  waitedSeconds: number;
  /** Connections the IdP's proxy accepted during the fault, and how many of them had a request held. */
  idpConnections: { accepted: number; held: number };
  /** The IdP back: what retrying the failed step did. */
  retry: string;
  /** The IdP back: a whole new sign-in, code exchange and a tool call, without restarting the Worker. */
  nextSignIn: string;
  pass: boolean;
}

export interface ResilienceResults {
  schema: 1;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  git: { commit: string; dirty: boolean };
  machine: MachineInfo;
  /** What the run changed from the Worker's defaults, and why. */
  settings: string[];
  rows: RowName[];
  checks: Check[];
  faults: FaultObservation[];
  /** Per row: every figure behind its checks. */
  details: Partial<Record<RowName, unknown>>;
  /** Seconds each row took, start-up of its systems included. */
  rowSeconds: Partial<Record<RowName, number>>;
  /** Live processes found in a process group this run started, after everything was stopped (then killed). */
  leftoverProcesses: { pgid: number; pid: number; command: string }[];
  pass: boolean;
}

export function renderReport(results: ResilienceResults, format: 'text' | 'markdown' = 'text'): string {
  const m = results.machine;
  const lines: string[] = [];
  const failed = results.checks.filter((check) => !check.pass).length;
  if (format === 'text') {
    lines.push(
      `MCP server resilience — commit ${results.git.commit.slice(0, 12)}${results.git.dirty ? ' (dirty)' : ''}, ${results.startedAt}`,
      `machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, node ${m.node}, ${m.platform}; load average at start ${m.loadAverageAtStart.map((v) => v.toFixed(2)).join(' ')}`,
      ...results.settings.map((setting) => `setting: ${setting}`),
      '',
    );
  }
  if (format === 'markdown') {
    // The faults' rows in a few words: the table after this one has them in full.
    const result = (check: Check) => (check.row === 'faults' ? check.summary : check.result);
    lines.push(...markdownTable([['row', 'check', 'result', 'pass rule', ''], ...results.checks.map((check) => [check.row, check.name, result(check), check.rule, check.pass ? 'PASS' : 'FAIL'])]), '');
    if (results.faults.length > 0) {
      lines.push('With the IdP killed or hung at each step of a sign-in, then back:', '');
      const faultRows = [
        ['step', 'IdP', 'the person sees', 'the client gets', 'IdP back: retrying that step', 'IdP back: next sign-in', ''],
        ...results.faults.map((f) => [f.step, f.fault, `${f.user} (${f.waitedSeconds.toFixed(1)} s)`, f.client, f.retry, f.nextSignIn, f.pass ? 'PASS' : 'FAIL']),
      ];
      lines.push(...markdownTable(faultRows), '');
    }
  } else {
    lines.push(...textTable([['row', 'check', 'result', ''], ...results.checks.map((check) => [check.row, check.name, check.summary, check.pass ? 'PASS' : 'FAIL'])]), '');
    lines.push('pass rules');
    const rules = new Map<string, string>();
    for (const check of results.checks) rules.set(`${check.row}: ${check.rule}`, '');
    for (const rule of rules.keys()) lines.push(`  ${rule}`);
    lines.push('');
    if (results.faults.length > 0) {
      lines.push('faults: what the person (browser) and the client see, then with the IdP back');
      for (const f of results.faults) {
        lines.push(
          `  ${f.pass ? 'PASS' : 'FAIL'}  IdP ${f.fault}: ${f.step}`,
          `        the person sees:  ${f.user} (${f.waitedSeconds.toFixed(1)} s)`,
          `        the client gets:  ${f.client}`,
          `        IdP back, retry:  ${f.retry}`,
          `        next sign-in:     ${f.nextSignIn}`,
        );
      }
      lines.push('');
    }
    const failedChecks = results.checks.filter((check) => !check.pass);
    if (failedChecks.length > 0) {
      lines.push('failed checks, in full');
      for (const check of failedChecks) lines.push(`  ${check.row}: ${check.name}`, `    result: ${check.result}`, `    rule:   ${check.rule}`);
      lines.push('');
    }
  }

  const rowTimes = results.rows.map((row) => `${row} ${(results.rowSeconds[row] ?? 0).toFixed(0)} s`).join(', ');
  const leftovers = results.leftoverProcesses.length === 0 ? 'no process left behind' : `${results.leftoverProcesses.length} processes left behind (killed): ${results.leftoverProcesses.map((p) => `${p.command} ${p.pid}`).join(', ')}`;
  lines.push(`${results.checks.length - failed} of ${results.checks.length} checks passed${failed ? `, ${failed} FAILED` : ''}; ${results.durationSeconds.toFixed(0)} s in all (${rowTimes}); ${leftovers}.`);
  return lines.join('\n');
}

function textTable(rows: readonly string[][]): string[] {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  const render = (row: readonly string[]) => `  ${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ')}`.trimEnd();
  const [header, ...body] = rows;
  return header ? [render(header), `  ${widths.map((width) => '-'.repeat(width)).join('  ')}`, ...body.map(render)] : [];
}

function markdownTable(rows: readonly string[][]): string[] {
  const escape = (cell: string) => cell.replaceAll('|', '\\|');
  const [header, ...body] = rows;
  if (!header) return [];
  return [`| ${header.map(escape).join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...body.map((row) => `| ${row.map(escape).join(' | ')} |`)];
}
