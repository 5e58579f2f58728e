/** A request's timeline as `pbft request --trace` prints it: one row per record, times relative to the first. */
import { CLIENT_LANE, type DiagramRecord } from '../../src/web/model.js';

export function Timeline(p: {
  title: string;
  records: DiagramRecord[] | null;
  error: string | null;
  colours: { replicas: string[]; phases: Record<string, string> };
  n: number;
  onClose: () => void;
}) {
  const recs = p.records ?? [];
  const first = recs.length ? Math.min(...recs.map((r) => r.ts)) : 0;
  const byPhase = new Map<string, Set<number>>();
  for (const r of recs) {
    const s = byPhase.get(r.phase) ?? new Set<number>();
    s.add(r.replica);
    byPhase.set(r.phase, s);
  }
  return (
    <div class="timeline" data-testid="timeline">
      <div class="timeline-head">
        <b>{p.title}</b>
        <span class="hint">
          {recs.length} records
          {byPhase.size > 0 &&
            ` · phases seen: ${[...byPhase]
              .map(
                ([ph, s]) =>
                  `${ph} ${[...s]
                    .sort((a, b) => a - b)
                    .map((i) => (i === CLIENT_LANE ? 'client' : `r${i}`))
                    .join(',')}`,
              )
              .join('; ')}`}
        </span>
        <button type="button" onClick={p.onClose} aria-label="close the timeline">
          ✕
        </button>
      </div>
      {p.error && <div class="error">{p.error}</div>}
      {p.records === null && !p.error && <div class="hint">reading the phase logs…</div>}
      <div class="timeline-rows">
        <table>
          <tbody>
            {recs.map((r, i) => (
              <tr key={i} data-phase={r.phase}>
                <td class="num">+{(r.ts - first).toFixed(1)} ms</td>
                <td style={{ color: r.replica === CLIENT_LANE ? '#adbac7' : p.colours.replicas[r.replica] }}>
                  {r.replica === CLIENT_LANE ? 'client' : `r${r.replica}`}
                </td>
                <td>v{r.view}</td>
                <td>{r.seq !== undefined ? `#${r.seq}` : ''}</td>
                <td style={{ color: p.colours.phases[r.phase] }}>{r.phase}</td>
                <td class="details">
                  {[
                    r.digest !== undefined ? `d=${r.digest.slice(0, 8)}` : '',
                    r.peer !== undefined ? `peer=r${r.peer}` : '',
                    r.client !== undefined ? `client=${r.client.length > 14 ? `${r.client.slice(0, 13)}…` : r.client}` : '',
                    r.timestamp !== undefined ? `t=${r.timestamp}` : '',
                    r.reason ?? '',
                    r.detail ?? '',
                  ]
                    .filter(Boolean)
                    .join(' ')}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
