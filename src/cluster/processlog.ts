/**
 * `pbft logs --process IDS`: each replica's own output (stdout and stderr, in
 * replicas/<i>/process.log): start-up lines, the ready line, warnings, errors and crashes. Not
 * the phase log (replicas/<i>/phases.jsonl), which is what `pbft logs` merges.
 */
import { watch, type FSWatcher } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { LoadedCluster } from '../runtime/config.js';
import { lastLineEnd } from '../phaselog/reader.js';
import { replicaFiles, tailLines } from './processes.js';

export interface ProcessLogFile {
  replica: number;
  path: string;
}

export interface ProcessLogLine {
  replica: number;
  line: string;
}

/** The process.log of each replica. */
export function processLogFiles(cluster: LoadedCluster, ids: readonly number[]): ProcessLogFile[] {
  return ids.map((id) => ({ replica: id, path: replicaFiles(cluster.dir, id).logFile }));
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** Read a whole file from `offset` (at most maxBytes), as complete lines and the new offset. */
async function readLinesFrom(path: string, offset: number, maxBytes = 4 << 20): Promise<{ lines: string[]; offset: number }> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r');
  } catch {
    return { lines: [], offset };
  }
  try {
    const { size } = await fh.stat();
    if (size < offset) offset = 0; // truncated or replaced: start over
    if (size === offset) return { lines: [], offset };
    const len = Math.min(size - offset, maxBytes);
    const buf = Buffer.alloc(len);
    const { bytesRead } = await fh.read(buf, 0, len, offset);
    const text = buf.subarray(0, bytesRead).toString('utf8');
    const end = text.lastIndexOf('\n');
    if (end < 0) return { lines: [], offset }; // a partial line: wait for its end
    return { lines: text.slice(0, end).split('\n'), offset: offset + Buffer.byteLength(text.slice(0, end + 1)) };
  } finally {
    await fh.close();
  }
}

/**
 * The lines of each file now: all of them, or the last `tail` of each. Also returns the offsets
 * to follow from.
 */
export async function readProcessLogs(
  files: readonly ProcessLogFile[],
  o: { tail?: number } = {},
): Promise<{ lines: ProcessLogLine[]; offsets: Map<string, number> }> {
  const lines: ProcessLogLine[] = [];
  const offsets = new Map<string, number>();
  for (const f of files) {
    // up to the end of the last whole line now: a line still being written, and whatever comes
    // after, are the follower's (found in review: a line half-written was printed in two parts,
    // and lines appended meanwhile twice)
    let end = 0;
    try {
      end = await lastLineEnd(f.path, await sizeOf(f.path));
    } catch {
      /* no such file yet */
    }
    offsets.set(f.path, end);
    const ls = o.tail !== undefined ? await tailLines(f.path, o.tail, { end }) : (await readLinesFrom(f.path, 0, end)).lines;
    for (const line of ls) lines.push({ replica: f.replica, line });
  }
  return { lines, offsets };
}

/**
 * Print new lines as the replicas write them (also after a restart, which appends, or a file
 * that is truncated or appears later), until the signal aborts. Woken by file-system events,
 * with a slow poll as a safety net (some file systems send none).
 */
export async function followProcessLogs(
  files: readonly ProcessLogFile[],
  o: { offsets: Map<string, number>; onLine: (l: ProcessLogLine) => void; signal: AbortSignal; pollMs?: number },
): Promise<void> {
  const offsets = new Map(o.offsets);
  let wake: (() => void) | null = null;
  const watchers: FSWatcher[] = [];
  const dirs = new Set(files.map((f) => f.path.slice(0, f.path.lastIndexOf('/'))));
  for (const d of dirs) {
    try {
      watchers.push(watch(d, () => wake?.()));
    } catch {
      /* no such directory yet: the poll covers it */
    }
  }
  try {
    while (!o.signal.aborted) {
      for (const f of files) {
        const r = await readLinesFrom(f.path, offsets.get(f.path) ?? 0);
        offsets.set(f.path, r.offset);
        for (const line of r.lines) o.onLine({ replica: f.replica, line });
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, o.pollMs ?? 1000);
        function done(): void {
          clearTimeout(t);
          wake = null;
          o.signal.removeEventListener('abort', done);
          resolve();
        }
        wake = done;
        o.signal.addEventListener('abort', done, { once: true });
      });
    }
  } finally {
    for (const w of watchers) w.close();
  }
}
