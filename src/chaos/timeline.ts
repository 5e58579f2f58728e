/**
 * The timeline picture of a chaos run: one self-contained SVG file (no script, no font or style
 * sheet from anywhere else). A lane per replica with its faults as coloured bands, then the
 * throughput (operations completed per second: ok, indeterminate, failed) and the latency of the
 * ok operations (p50, p99, max; log scale) over the same time axis. The phases after the load
 * (heal, convergence, read-back) are shaded. Each band has a tooltip (<title>) with its times.
 */
import type { NemesisKind } from './schedule.js';
import type { Series } from './history.js';

export interface TimelineFault {
  kind: NemesisKind;
  replicas: readonly number[];
  /** e.g. "byzantine r1 equivocate" */
  label: string;
  startMs: number;
  endMs: number;
  /** false when the fault could not be applied (drawn hatched) */
  applied: boolean;
}

export interface TimelinePhase {
  name: string;
  startMs: number;
  endMs: number;
}

export interface TimelineInput {
  title: string;
  /** lines under the title (seed, nemesis, verdict, ...) */
  subtitle: string[];
  n: number;
  /** the run's Byzantine replicas (marked on their lanes) */
  byzantine: readonly number[];
  /** the end of the time axis, ms */
  endMs: number;
  faults: readonly TimelineFault[];
  phases: readonly TimelinePhase[];
  series: Series;
}

export const KIND_COLOURS: Record<NemesisKind, string> = {
  crash: '#d62728',
  restart: '#8c564b',
  pause: '#9467bd',
  partition: '#ff7f0e',
  delay: '#1f77b4',
  drop: '#17becf',
  byzantine: '#111111',
  clients: '#bcbd22',
};

const W = 1100;
const LEFT = 90;
const RIGHT = 30;
const PLOT_W = W - LEFT - RIGHT;
const LANE_H = 22;
const CHART_H = 130;

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** A "nice" tick step for a range (1, 2 or 5 times a power of ten). */
export function niceStep(range: number, ticks: number): number {
  if (!(range > 0)) return 1;
  const raw = range / Math.max(1, ticks);
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

export function renderTimelineSvg(t: TimelineInput): string {
  const end = Math.max(1, t.endMs);
  const x = (ms: number) => LEFT + (Math.min(Math.max(ms, 0), end) / end) * PLOT_W;
  const out: string[] = [];
  let y = 20;
  const text = (tx: number, ty: number, s: string, attrs = '') => out.push(`<text x="${fmt(tx)}" y="${fmt(ty)}"${attrs}>${escapeXml(s)}</text>`);

  text(LEFT, y, t.title, ' font-size="16" font-weight="bold"');
  for (const line of t.subtitle) {
    y += 16;
    text(LEFT, y, line, ' fill="#444"');
  }
  y += 18;

  // x axis ticks (seconds), drawn under every section
  const stepMs = niceStep(end, 12);
  const ticks: number[] = [];
  for (let ms = 0; ms <= end + 1e-6; ms += stepMs) ticks.push(ms);
  const sections: { top: number; height: number }[] = [];

  // --- fault lanes ---
  const lanesTop = y + 10;
  text(LEFT, lanesTop - 4, 'faults per replica', ' fill="#444"');
  const lanesH = t.n * LANE_H;
  sections.push({ top: lanesTop, height: lanesH });
  for (let r = 0; r < t.n; r++) {
    const ly = lanesTop + r * LANE_H;
    out.push(`<rect x="${LEFT}" y="${ly}" width="${PLOT_W}" height="${LANE_H - 2}" fill="${r % 2 ? '#f4f4f4' : '#fafafa'}"/>`);
    text(LEFT - 8, ly + 15, `r${r}${t.byzantine.includes(r) ? ' (byz)' : ''}`, ' text-anchor="end"');
  }
  for (const f of t.faults) {
    const x0 = x(f.startMs);
    const w = Math.max(2, x(f.endMs) - x0);
    for (const r of f.replicas) {
      if (r < 0 || r >= t.n) continue;
      const ly = lanesTop + r * LANE_H + 2;
      const tip = `${f.label}: ${secs(f.startMs)} to ${secs(f.endMs)}${f.applied ? '' : ' (could not be applied)'}`;
      out.push(
        `<rect x="${fmt(x0)}" y="${ly}" width="${fmt(w)}" height="${LANE_H - 6}" fill="${f.applied ? KIND_COLOURS[f.kind] : 'url(#hatch)'}" stroke="${KIND_COLOURS[f.kind]}" opacity="0.85"><title>${escapeXml(tip)}</title></rect>`,
      );
      if (w > 46) text(x0 + 3, ly + 12, f.label.replace(/^(\w+) r[\d,]+ ?/, '$1 '), ' font-size="10" fill="#fff" pointer-events="none"');
    }
  }
  y = lanesTop + lanesH + 18;

  // --- throughput ---
  const b = t.series.buckets;
  const perSec = 1000 / t.series.bucketMs;
  const tpTop = y + 10;
  const maxRate = Math.max(1, ...b.map((k) => (k.ok + k.info + k.fail) * perSec));
  const rateStep = niceStep(maxRate, 4);
  const rateTop = Math.ceil(maxRate / rateStep) * rateStep;
  text(LEFT, tpTop - 4, 'throughput: operations completed per second (ok, indeterminate, failed)', ' fill="#444"');
  sections.push({ top: tpTop, height: CHART_H });
  out.push(`<rect x="${LEFT}" y="${tpTop}" width="${PLOT_W}" height="${CHART_H}" fill="#fcfcfc" stroke="#ddd"/>`);
  for (let v = 0; v <= rateTop + 1e-9; v += rateStep) {
    const yy = tpTop + CHART_H - (v / rateTop) * CHART_H;
    out.push(`<line x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${fmt(yy)}" y2="${fmt(yy)}" stroke="#eee"/>`);
    text(LEFT - 6, yy + 4, fmt(v), ' text-anchor="end" font-size="10"');
  }
  const bw = Math.max(1, (t.series.bucketMs / end) * PLOT_W - 1);
  for (const k of b) {
    let base = tpTop + CHART_H;
    for (const [n, colour] of [
      [k.ok, '#2ca02c'],
      [k.info, '#ff9f1c'],
      [k.fail, '#d62728'],
    ] as const) {
      if (n === 0) continue;
      const h = ((n * perSec) / rateTop) * CHART_H;
      base -= h;
      out.push(
        `<rect x="${fmt(x(k.startMs))}" y="${fmt(base)}" width="${fmt(bw)}" height="${fmt(h)}" fill="${colour}"><title>${escapeXml(`${secs(k.startMs)}: ${k.ok} ok, ${k.info} indeterminate, ${k.fail} failed`)}</title></rect>`,
      );
    }
  }
  y = tpTop + CHART_H + 18;

  // --- latency (log scale) ---
  const latTop = y + 10;
  const maxLat = Math.max(10, ...b.map((k) => k.maxMs ?? 0));
  const decades = Math.max(1, Math.ceil(Math.log10(maxLat)));
  const ly = (ms: number) => latTop + CHART_H - (Math.log10(Math.max(1, ms)) / decades) * CHART_H;
  text(LEFT, latTop - 4, 'latency of ok operations, ms (log scale): p50, p99, max', ' fill="#444"');
  sections.push({ top: latTop, height: CHART_H });
  out.push(`<rect x="${LEFT}" y="${latTop}" width="${PLOT_W}" height="${CHART_H}" fill="#fcfcfc" stroke="#ddd"/>`);
  for (let d = 0; d <= decades; d++) {
    const yy = ly(10 ** d);
    out.push(`<line x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${fmt(yy)}" y2="${fmt(yy)}" stroke="#eee"/>`);
    text(LEFT - 6, yy + 4, String(10 ** d), ' text-anchor="end" font-size="10"');
  }
  for (const [field, colour, width] of [
    ['maxMs', '#bbbbbb', 1],
    ['p99Ms', '#ff7f0e', 1.5],
    ['p50Ms', '#1f77b4', 2],
  ] as const) {
    const pts: string[] = [];
    const lines: string[] = [];
    for (const k of b) {
      const v = k[field];
      if (v === null) {
        if (pts.length) lines.push(pts.splice(0).join(' '));
        continue;
      }
      pts.push(`${fmt(x(k.startMs + t.series.bucketMs / 2))},${fmt(ly(v))}`);
    }
    if (pts.length) lines.push(pts.join(' '));
    for (const l of lines)
      out.push(
        l.includes(' ')
          ? `<polyline points="${l}" fill="none" stroke="${colour}" stroke-width="${width}"/>`
          : `<circle cx="${l.split(',')[0]}" cy="${l.split(',')[1]}" r="1.5" fill="${colour}"/>`,
      );
  }
  y = latTop + CHART_H;

  // --- phases after the load, shaded over every section; the x axis ---
  const shades: string[] = [];
  if (t.phases.length > 0) {
    // one label for the phases after the load (they are often too narrow for one each)
    const first = t.phases[0]!;
    text(x(first.startMs), y + 30, `after the load: ${t.phases.map((p) => p.name).join(', ')} (shaded)`, ' font-size="10" fill="#666" text-anchor="end"');
  }
  for (const p of t.phases) {
    for (const s of sections)
      shades.push(
        `<rect x="${fmt(x(p.startMs))}" y="${s.top}" width="${fmt(Math.max(1, x(p.endMs) - x(p.startMs)))}" height="${s.height}" fill="#000" opacity="0.05"><title>${escapeXml(`${p.name}: ${secs(p.startMs)} to ${secs(p.endMs)}`)}</title></rect>`,
      );
  }
  for (const ms of ticks) {
    const xx = x(ms);
    out.push(`<line x1="${fmt(xx)}" x2="${fmt(xx)}" y1="${lanesTop}" y2="${y + 4}" stroke="#000" opacity="0.08"/>`);
    text(xx, y + 16, `${fmt(ms / 1000)} s`, ' text-anchor="middle" font-size="10"');
  }
  y += 44;

  // --- legend ---
  let lx = LEFT;
  const legend = (colour: string, name: string) => {
    out.push(`<rect x="${lx}" y="${y - 9}" width="10" height="10" fill="${colour}"/>`);
    text(lx + 14, y, name, ' font-size="11"');
    lx += 22 + name.length * 6.5;
  };
  for (const k of Object.keys(KIND_COLOURS) as NemesisKind[]) legend(KIND_COLOURS[k], k);
  lx += 10;
  legend('#2ca02c', 'ok');
  legend('#ff9f1c', 'indeterminate');
  legend('#d62728', 'failed');
  y += 16;

  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="12">`,
    '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#999" stroke-width="3"/></pattern></defs>',
    `<rect width="${W}" height="${height}" fill="#fff"/>`,
    ...out,
    ...shades,
    '</svg>',
    '',
  ].join('\n');
}
