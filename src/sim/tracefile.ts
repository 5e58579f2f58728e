/**
 * Simulator trace files for `pbft web`: `pbft sim --seed N --trace-file FILE` writes the whole
 * trace of one run (every event, as `--trace` prints it) as JSON, with the run's seed,
 * scenario, replay command and violations. The page reads it into its space-time diagram
 * (src/web/model.ts simRecords) and steps through it.
 */
import { writeFile } from 'node:fs/promises';
import { SIM_TRACE_FORMAT, type SimTraceEntry, type SimTraceFile } from '../web/model.js';
import type { SimResult } from './simulator.js';

/** One line as src/sim/trace.ts formatEntry writes it: `   12.345ms r2   deliver   <- r0 ...`. */
const LINE = /^\s*(-?\d+(?:\.\d+)?)ms (\S+) +(\S+) *(.*)$/s;

export function parseTraceLine(line: string): SimTraceEntry {
  const m = LINE.exec(line);
  if (!m) return { t: 0, who: '?', kind: 'text', text: line };
  return { t: Number(m[1]), who: m[2]!, kind: m[3]!, text: m[4]! };
}

/** The trace file of a run made with fullTrace (or at least alwaysTrace). */
export function simTraceFile(r: SimResult): SimTraceFile {
  const lines = r.fullTrace ?? r.trace ?? [];
  const entries = lines.map(parseTraceLine);
  // lines that failed to parse keep the time of the line before
  for (let i = 1; i < entries.length; i++) if (entries[i]!.kind === 'text' && entries[i]!.who === '?') entries[i]!.t = entries[i - 1]!.t;
  return {
    format: SIM_TRACE_FORMAT,
    version: 1,
    seed: r.seed,
    n: r.n,
    f: r.f,
    ok: r.ok,
    scenario: r.scenario,
    replay: r.replay,
    violations: r.violations.map((v) => ({
      invariant: v.invariant,
      message: v.message,
      ...(v.replica !== undefined ? { replica: v.replica } : {}),
      ...(v.seq !== undefined ? { seq: v.seq } : {}),
      ...(v.timeMs !== undefined ? { timeMs: v.timeMs } : {}),
    })),
    entries,
  };
}

export async function writeSimTraceFile(path: string, r: SimResult): Promise<SimTraceFile> {
  const t = simTraceFile(r);
  await writeFile(path, `${JSON.stringify(t)}\n`);
  return t;
}
