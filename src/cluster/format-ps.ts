/** The table of pbft ps. */
import { relative } from 'node:path';
import { table, type Palette } from './format.js';
import type { ProcessRow } from './lifecycle.js';

/** "3.2 s", "5 min", "2 h 4 min", "3 d 1 h" */
export function formatUptime(ms: number): string {
  const s = Math.max(0, ms / 1000);
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** A path relative to cwd when it is under it, else absolute. */
export function shortPath(p: string, cwd = process.cwd()): string {
  const rel = relative(cwd, p);
  return rel === '' || rel.startsWith('..') ? p : rel;
}

export function formatProcessTable(rows: ProcessRow[], p: Palette, nowMs = Date.now(), cwd = process.cwd()): string {
  const state = (r: ProcessRow) =>
    r.state === 'running' ? p.paint('32', r.state) : r.state === 'paused' || r.state === 'crashed' ? p.paint('31', r.state) : p.paint('2', r.state);
  const running = rows.filter((r) => r.pid !== null).length;
  return [
    table(
      ['replica', 'state', 'pid', 'address', 'up for', 'memory', 'output'],
      rows.map((r) => [
        String(r.id),
        state(r),
        r.pid !== null ? String(r.pid) : '-',
        `${r.host}:${r.port}`,
        r.startedAtMs !== null ? formatUptime(nowMs - r.startedAtMs) : '-',
        r.rssBytes !== null ? `${Math.round(r.rssBytes / 1048576)} MB` : '-',
        shortPath(r.logFile, cwd),
      ]),
      ['r', 'l', 'r', 'l', 'r', 'r', 'l'],
    ),
    '',
    `${running} of ${rows.length} replica processes running${rows.some((r) => r.state === 'paused') ? ` (${rows.filter((r) => r.state === 'paused').length} paused)` : ''}.`,
  ].join('\n');
}
