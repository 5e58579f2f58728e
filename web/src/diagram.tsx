/** The space-time diagram: one lane per replica and one for the clients, time left to right. */
import { useMemo } from 'preact/hooks';
import { type Arrow, CLIENT_LANE, type DiagramRecord, type Mark, buildDiagram, requestKey } from '../../src/web/model.js';

export interface DiagramProps {
  records: readonly DiagramRecord[];
  n: number;
  fromMs: number;
  toMs: number;
  colours: { replicas: string[]; phases: Record<string, string> };
  /** label times relative to this (ms) */
  originMs: number;
  selected: string | null;
  onSelect: (key: string, t0: number, t1: number) => void;
  /** vertical lines: the simulator's cursor, a violation */
  cursorMs?: number;
  violationMs?: number;
  primary?: number | null;
  width?: number;
  /** most arrows drawn (the latest ones) */
  maxArrows?: number;
}

const LANE_H = 46;
const LEFT = 64;
const TOP = 22;

/** lane index on screen: the client first, then replicas 0..n-1 */
const laneRow = (lane: number) => (lane === CLIENT_LANE ? 0 : lane + 1);

const LABELLED: ReadonlySet<string> = new Set([
  'view-change',
  'new-view',
  'enter-view',
  'state-transfer',
  'fault',
  'crash',
  'restart',
  'stable',
  'violation',
  'start',
  'recovery',
]);

export function Diagram(p: DiagramProps) {
  const width = p.width ?? 1220;
  const plotW = width - LEFT - 12;
  const height = TOP + (p.n + 1) * LANE_H + 8;
  const span = Math.max(1, p.toMs - p.fromMs);
  const x = (t: number) => LEFT + ((t - p.fromMs) / span) * plotW;
  const y = (lane: number) => TOP + laneRow(lane) * LANE_H + LANE_H / 2;

  const { arrows, marks, requests, cut } = useMemo(() => {
    const visible = p.records.filter((r) => r.ts >= p.fromMs - span * 0.5 && r.ts <= p.toMs);
    const d = buildDiagram(visible);
    const inView = (t0: number, t1: number) => t1 >= p.fromMs && t0 <= p.toMs;
    let arrows: Arrow[] = d.arrows.filter((a) => inView(a.t0, a.t1));
    const max = p.maxArrows ?? 3000;
    const cut = Math.max(0, arrows.length - max);
    if (cut > 0) arrows = arrows.slice(cut);
    const marks: Mark[] = d.marks.filter((m) => m.t >= p.fromMs && m.t <= p.toMs);
    // requests: their extent in time, and the sequence numbers they were ordered at
    const bySeq = new Map<string, string>();
    const ext = new Map<string, { t0: number; t1: number }>();
    for (const r of visible) {
      if (r.client === undefined || r.timestamp === undefined) continue;
      const k = requestKey(r.client, r.timestamp);
      if (r.seq !== undefined) bySeq.set(`${r.view}|${r.seq}`, k);
      const e = ext.get(k);
      if (e) {
        e.t0 = Math.min(e.t0, r.ts);
        e.t1 = Math.max(e.t1, r.ts);
      } else ext.set(k, { t0: r.ts, t1: r.ts });
    }
    for (const a of arrows) {
      if (a.request === undefined && a.seq !== undefined) {
        const k = bySeq.get(`${a.view}|${a.seq}`);
        if (k) {
          a.request = k;
          const e = ext.get(k)!;
          e.t0 = Math.min(e.t0, a.t0);
          e.t1 = Math.max(e.t1, a.t1);
        }
      }
    }
    const requests = [...ext].filter(([, e]) => inView(e.t0, e.t1)).map(([k, e]) => ({ key: k, ...e }));
    return { arrows, marks, requests, cut };
  }, [p.records, p.fromMs, p.toMs, span, p.maxArrows]);

  const lanes = [CLIENT_LANE, ...Array.from({ length: p.n }, (_, i) => i)];
  const colour = (phase: string) => p.colours.phases[phase] ?? '#adbac7';
  const ticks = timeTicks(p.fromMs, p.toMs, p.originMs);

  return (
    <div class="diagram-wrap">
      <svg class="diagram" width={width} height={height} data-testid="diagram" role="img" aria-label="space-time diagram">
        <defs>
          {Object.entries(p.colours.phases).map(([ph, c]) => (
            <marker key={ph} id={`ah-${ph}`} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M 0 0 L 10 5 L 0 10 z" fill={c} />
            </marker>
          ))}
        </defs>
        {ticks.map((t) => (
          <g key={t.ms}>
            <line x1={x(t.ms)} x2={x(t.ms)} y1={TOP - 4} y2={height - 6} class="tick" />
            <text x={x(t.ms) + 3} y={12} class="tick-label">
              {t.label}
            </text>
          </g>
        ))}
        {lanes.map((lane) => (
          <g key={lane}>
            <line x1={LEFT} x2={width - 10} y1={y(lane)} y2={y(lane)} class="lane" />
            <text x={8} y={y(lane) + 4} class="lane-label" fill={lane === CLIENT_LANE ? '#adbac7' : (p.colours.replicas[lane] ?? '#adbac7')}>
              {lane === CLIENT_LANE ? 'client' : `r${lane}${p.primary === lane ? ' ★' : ''}`}
            </text>
          </g>
        ))}
        {requests.map((r) => (
          // biome-ignore lint/a11y/useSemanticElements: an SVG band over the request's arrows, not an HTML control
          <rect
            key={r.key}
            class={`req-band${p.selected === r.key ? ' selected' : ''}`}
            data-request={r.key}
            x={x(r.t0) - 3}
            y={TOP}
            width={Math.max(6, x(r.t1) - x(r.t0) + 6)}
            height={(p.n + 1) * LANE_H}
            role="button"
            tabIndex={0}
            onClick={() => p.onSelect(r.key, r.t0, r.t1)}
            onKeyDown={(e) => e.key === 'Enter' && p.onSelect(r.key, r.t0, r.t1)}
          >
            <title>{`request ${r.key}: click for its timeline`}</title>
          </rect>
        ))}
        {arrows.map((a, i) => (
          <line
            key={i}
            class={`arrow${a.approx ? ' approx' : ''}${p.selected !== null && a.request === p.selected ? ' hot' : p.selected !== null ? ' dim' : ''}`}
            data-phase={a.phase}
            data-request={a.request}
            data-seq={a.seq}
            x1={x(a.t0)}
            y1={y(a.from)}
            x2={x(a.t1)}
            y2={y(a.to)}
            stroke={colour(a.phase)}
            marker-end={`url(#ah-${a.phase})`}
          />
        ))}
        {marks.map((m, i) => (
          <g key={i} class="mark" data-phase={m.phase} data-lane={m.lane}>
            {m.phase === 'execute' ? (
              <circle cx={x(m.t)} cy={y(m.lane)} r={2.5} fill={colour(m.phase)} />
            ) : (
              <rect x={x(m.t) - 4} y={y(m.lane) - 4} width={8} height={8} transform={`rotate(45 ${x(m.t)} ${y(m.lane)})`} fill={colour(m.phase)} />
            )}
            {LABELLED.has(m.phase) && (
              <text x={x(m.t) + 6} y={y(m.lane) - 8} class="mark-label" fill={colour(m.phase)}>
                {shortLabel(m)}
              </text>
            )}
            <title>{m.label}</title>
          </g>
        ))}
        {p.violationMs !== undefined && p.violationMs >= p.fromMs && p.violationMs <= p.toMs && (
          <line x1={x(p.violationMs)} x2={x(p.violationMs)} y1={TOP} y2={height - 6} class="violation-line" data-testid="violation-line" />
        )}
        {p.cursorMs !== undefined && <line x1={x(p.cursorMs)} x2={x(p.cursorMs)} y1={TOP} y2={height - 6} class="cursor-line" />}
      </svg>
      {cut > 0 && <div class="note">{cut} older arrows in this window not drawn; narrow the window to see them</div>}
    </div>
  );
}

function shortLabel(m: Mark): string {
  const l = m.label;
  return l.length > 28 ? `${l.slice(0, 27)}…` : l;
}

function timeTicks(from: number, to: number, origin: number): { ms: number; label: string }[] {
  const span = to - from;
  const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000];
  const step = steps.find((s) => span / s <= 10) ?? 60_000;
  const out: { ms: number; label: string }[] = [];
  for (let t = Math.ceil((from - origin) / step) * step + origin; t <= to; t += step) {
    const rel = t - origin;
    out.push({ ms: t, label: Math.abs(rel) >= 1000 ? `${(rel / 1000).toFixed(step >= 1000 ? 0 : 1)} s` : `${Math.round(rel)} ms` });
  }
  return out;
}
