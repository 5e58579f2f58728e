/** What `pbft chaos` prints: the progress line and the report. */
import { formatMs, type Palette } from '../cluster/format.js';
import type { CheckStatus } from './check.js';
import type { ChaosProgress, ChaosReport } from './run.js';

export function formatProgress(p: ChaosProgress): string {
  const active = p.active.length > 0 ? `  in force: ${p.active.join('; ')}` : '';
  return `${(p.elapsedMs / 1000).toFixed(0)}/${(p.durationMs / 1000).toFixed(0)} s  ${p.ok} ok  ${p.info} indeterminate  ${p.fail} failed  ${p.faultsApplied} faults${active}`;
}

const MARK: Record<CheckStatus, [string, string]> = {
  pass: ['32', 'pass'],
  fail: ['31', 'FAIL'],
  unknown: ['33', 'unknown'],
  skipped: ['2', 'skipped'],
};

/** The report, a line per item; the checks one per line with pass / FAIL / unknown / skipped. */
export function formatChaosReport(r: ChaosReport, p: Palette, cwd = process.cwd()): string {
  const rel = (f: string) => (f.startsWith(`${cwd}/`) ? f.slice(cwd.length + 1) : f);
  const mark = (s: CheckStatus) => p.paint(MARK[s][0], MARK[s][1].padEnd(7));
  const lines: string[] = [];
  const o = r.ops;
  lines.push(
    `operations   ${o.invoked}: ${o.ok} ok, ${o.info} indeterminate (timed out: may or may not have happened), ${o.fail} failed  (put ${o.byOp.put.ok}/${o.byOp.put.ok + o.byOp.put.info + o.byOp.put.fail} ok, get ${o.byOp.get.ok}/${o.byOp.get.ok + o.byOp.get.info + o.byOp.get.fail}, del ${o.byOp.del.ok}/${o.byOp.del.ok + o.byOp.del.info + o.byOp.del.fail})`,
  );
  const kinds = Object.entries(r.faults.byKind)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  lines.push(
    `faults       ${r.faults.applied} applied of ${r.faults.planned} planned${kinds ? ` (${kinds})` : ''}${r.faults.errors ? `, ${r.faults.errors} with errors` : ''}; up to ${r.faults.maxDownAtOnce} replica${r.faults.maxDownAtOnce === 1 ? '' : 's'} down or cut off at once (f = ${r.f}); Byzantine replicas: ${r.byzantine.map((b) => `r${b}`).join(', ') || 'none'}`,
  );
  lines.push(`heal         ${formatMs(r.heal.ms)}${r.heal.errors.length ? `; ${r.heal.errors.length} errors: ${r.heal.errors[0]}` : ''}`);
  lines.push(`convergence  ${mark(r.convergence.ok ? 'pass' : 'fail')} ${r.convergence.message} (bound ${r.convergence.boundMs / 1000} s)`);
  const c = r.checks;
  lines.push(`linearizable ${mark(c.linearizable.status)} ${firstLine(c.linearizable.message)}`);
  lines.push(`verify       ${mark(c.verify.status)} ${c.verify.message}`);
  lines.push(`lost writes  ${mark(c.lostWrites.status)} ${c.lostWrites.message}`);
  lines.push(`same state   ${mark(c.sameState.status)} ${c.sameState.message}`);
  for (const w of r.warnings) lines.push(p.paint('33', `warning: ${w}`));
  if (c.linearizable.status === 'fail' && c.linearizable.message.includes('\n'))
    for (const l of c.linearizable.message.split('\n').slice(1, 30)) lines.push(`  ${l}`);
  lines.push('');
  lines.push(`files        ${rel(r.files.report)}, ${rel(r.files.history)}, ${rel(r.files.timeline)}`);
  const verdict =
    r.verdict === 'pass'
      ? p.paint('32', `PASS: ${r.anomalies} anomalies`)
      : r.verdict === 'fail'
        ? p.paint('31', `FAIL: ${r.anomalies} anomal${r.anomalies === 1 ? 'y' : 'ies'}${r.convergence.ok ? '' : ', no convergence'}`)
        : p.paint('33', 'INCONCLUSIVE: no anomaly found, but a check could not decide');
  lines.push(`${verdict} in ${formatMs(r.wallMs)} (seed ${r.seed}; the same seed replays the same schedule and operations)`);
  return lines.join('\n');
}

function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}
