/** The human form of a VerifyReport: one line per replica, one per check, then the evidence and the verdict. */
import type { Palette } from '../cluster/format.js';
import type { CheckStatus, VerifyReport } from './verify.js';

const RANK: Record<CheckStatus, number> = { pass: 0, skip: 0, incomplete: 1, fail: 2 };
const WORD: Record<CheckStatus, string> = { pass: 'ok', skip: 'ok', incomplete: 'INCOMPLETE', fail: 'FAIL' };

function paintStatus(p: Palette, s: CheckStatus, text: string): string {
  return p.paint(s === 'fail' ? '31' : s === 'incomplete' ? '33' : '32', text);
}

export function formatVerifyReport(r: VerifyReport, p: Palette): string {
  const lines: string[] = [];
  for (const x of r.replicas) {
    const worst: CheckStatus = RANK[x.ledgerStatus] >= RANK[x.state.status] ? x.ledgerStatus : x.state.status;
    lines.push(
      `replica ${String(x.id).padEnd(3)} ${x.process.padEnd(8)} ${paintStatus(p, worst, WORD[worst].padEnd(10))} ${x.faulty ? '(declared faulty) ' : ''}ledger: ${x.ledgerSummary}; state: ${x.state.summary}`,
    );
  }
  lines.push('');
  for (const c of r.checks) {
    lines.push(`check ${c.name.padEnd(12)} ${paintStatus(p, c.status, WORD[c.status].padEnd(10))} ${c.summary}`);
    for (const prob of c.problems) lines.push(`    ${prob}`);
    if (c.more > 0) lines.push(`    … and ${c.more} more (--json has the first ones too)`);
    for (const e of c.expected) lines.push(`    expected (faulty): ${e}`);
    if (c.expectedMore > 0) lines.push(`    expected (faulty): … and ${c.expectedMore} more`);
  }
  const many = (ids: number[]) => `replica${ids.length > 1 ? 's' : ''} ${ids.join(', ')}`;
  if (r.faulty.length > 0) {
    lines.push('');
    if (r.expectedEvidence.length === 0)
      lines.push(`Declared faulty: ${many(r.faulty)}; nothing in the records speaks against ${r.faulty.length > 1 ? 'them' : 'it'}.`);
    else {
      const against = [...new Set(r.expectedEvidence.map((e) => e.replica))].sort((a, b) => a - b);
      lines.push(
        p.paint(
          '33',
          `Declared faulty: ${many(r.faulty)}. Expected evidence against ${many(against)} (not a violation: problems of the faulty replicas alone):`,
        ),
      );
      for (const e of r.expectedEvidence.slice(0, 20)) lines.push(`    ${e.detail}`);
      if (r.expectedEvidence.length > 20) lines.push(`    … and ${r.expectedEvidence.length - 20} more`);
    }
  }
  if (r.evidence.length > 0) {
    lines.push(
      '',
      p.paint('31', `Evidence against replica${r.accused.length > 1 ? 's' : ''} ${r.accused.join(', ')} (their own records contradict a certificate):`),
    );
    for (const e of r.evidence.slice(0, 20)) lines.push(`    ${e.detail}`);
    if (r.evidence.length > 20) lines.push(`    … and ${r.evidence.length - 20} more`);
  }
  const s = r.stats;
  const figures = `${s.sequenceNumbers} sequence numbers, ${s.executions} executions, ${s.certificates} certificates, ${s.signaturesVerified} signatures verified${s.signatureWorkers > 0 ? ` on ${s.signatureWorkers} worker threads` : ''}, ${(s.ms / 1000).toFixed(2)} s`;
  lines.push('');
  const asFaulty = r.faulty.length > 0 ? ` for the correct replicas, ${many(r.faulty)} treated as faulty` : '';
  if (r.outcome === 'ok') lines.push(p.paint('32', `Verified: every check holds${asFaulty} (${figures}).`));
  else if (r.outcome === 'violation')
    lines.push(
      p.paint(
        '31',
        `Violation: ${
          r.checks
            .filter((c) => c.status === 'fail')
            .map((c) => c.name)
            .join(', ') || 'evidence found'
        } failed (${figures}).`,
      ),
    );
  else
    lines.push(
      p.paint(
        '33',
        `Incomplete: no violation found, but ${r.checks
          .filter((c) => c.status === 'incomplete')
          .map((c) => c.name)
          .join(', ')} could not be fully checked (${figures}).`,
      ),
    );
  return lines.join('\n');
}
