/**
 * The phase log's reader: merging, filtering and following the replicas' phase logs
 * (`<dir>/replicas/<i>/phases.jsonl`, one JSON object per line).
 *
 * Every replica appends to its own file in time order, so a merged view is a k-way merge by
 * timestamp: memory stays bounded by the number of files, whatever their size. Lines that
 * are not valid records (a torn last line, garbage) are skipped and counted, never fatal.
 */
import { createReadStream, watch, type FSWatcher } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { MAX_LINE_CHARS, type PhaseRecord, parsePhaseLine, recordTimeMs } from './record.js';

export interface PhaseFile {
  replica: number;
  path: string;
}

export interface PhaseFilter {
  replicas?: ReadonlySet<number>;
  phases?: ReadonlySet<string>;
  seq?: number;
  view?: number;
  client?: string;
  /** only records at or after this time (ms since the epoch) */
  sinceMs?: number;
}

export function matchesFilter(rec: PhaseRecord, f: PhaseFilter): boolean {
  if (f.replicas && !f.replicas.has(rec.replica)) return false;
  if (f.phases && !f.phases.has(rec.phase)) return false;
  if (f.seq !== undefined && rec.seq !== f.seq) return false;
  if (f.view !== undefined && rec.view !== f.view) return false;
  if (f.client !== undefined && rec.client !== f.client) return false;
  if (f.sinceMs !== undefined && recordTimeMs(rec) < f.sinceMs) return false;
  return true;
}

/** Phase-log files of a cluster directory: replicas/<i>/phases.jsonl for numeric <i>. */
export async function discoverPhaseFiles(dir: string, ids?: readonly number[]): Promise<PhaseFile[]> {
  const base = join(dir, 'replicas');
  let list: number[];
  if (ids) list = [...ids];
  else {
    let names: string[];
    try {
      names = await readdir(base);
    } catch {
      return [];
    }
    list = names.filter((n) => /^(0|[1-9][0-9]{0,5})$/.test(n)).map(Number);
  }
  list.sort((a, b) => a - b);
  return list.map((replica) => ({ replica, path: join(base, String(replica), 'phases.jsonl') }));
}

export interface MergeStats {
  /** lines skipped because they were not valid records */
  skipped: number;
}

interface Cursor {
  file: PhaseFile;
  it: AsyncIterator<string>;
  head: PhaseRecord | null;
  headMs: number;
  order: number;
  done: boolean;
}

/**
 * Merge the files in time order (ties: replica id, then line order), yielding the records
 * that match the filter. `endOffsets` bounds how much of each file is read (used by follow
 * mode to hand over to the tail exactly where the merge stopped).
 */
export async function* mergePhaseLogs(
  files: readonly PhaseFile[],
  filter: PhaseFilter = {},
  o: {
    endOffsets?: ReadonlyMap<string, number>;
    /** byte offsets to start from (line starts, e.g. from offsetAtTime) */
    startOffsets?: ReadonlyMap<string, number>;
    stats?: MergeStats;
    signal?: AbortSignal;
  } = {},
): AsyncGenerator<PhaseRecord> {
  const stats = o.stats ?? { skipped: 0 };
  const cursors: Cursor[] = [];
  const streams: { close(): void }[] = [];
  try {
    for (const file of files) {
      const end = o.endOffsets?.get(file.path);
      if (end === 0) continue;
      try {
        await stat(file.path);
      } catch {
        continue; // a replica that never wrote a log yet
      }
      const start = o.startOffsets?.get(file.path) ?? 0;
      if (end !== undefined && start >= end) continue;
      const stream = createReadStream(file.path, { encoding: 'utf8', start, ...(end !== undefined ? { end: end - 1 } : {}) });
      const rl = createInterface({ input: stream, crlfDelay: Infinity });
      streams.push({
        close: () => {
          rl.close();
          stream.destroy();
        },
      });
      cursors.push({ file, it: rl[Symbol.asyncIterator](), head: null, headMs: 0, order: 0, done: false });
    }
    const advance = async (c: Cursor): Promise<void> => {
      for (;;) {
        let next: IteratorResult<string>;
        try {
          next = await c.it.next();
        } catch {
          c.done = true; // unreadable (removed while reading, a directory...): stop this file
          c.head = null;
          return;
        }
        if (next.done) {
          c.done = true;
          c.head = null;
          return;
        }
        const rec = parsePhaseLine(next.value);
        if (!rec) {
          if (next.value.trim().length > 0) stats.skipped++;
          continue;
        }
        c.head = rec;
        c.headMs = recordTimeMs(rec);
        c.order++;
        return;
      }
    };
    await Promise.all(cursors.map(advance));
    for (;;) {
      if (o.signal?.aborted) return;
      let best: Cursor | null = null;
      for (const c of cursors) {
        if (c.done || !c.head) continue;
        if (!best || c.headMs < best.headMs || (c.headMs === best.headMs && c.head.replica < best.head!.replica)) best = c;
      }
      if (!best) return;
      const rec = best.head!;
      await advance(best);
      if (matchesFilter(rec, filter)) yield rec;
    }
  } finally {
    for (const s of streams) s.close();
  }
}

/**
 * The byte offset of a line start at or before the first record with ts >= tsMs, found by
 * binary search (a replica appends in time order). A lower bound: reading from it and
 * filtering by time gives every record from tsMs on. 0 for a missing or unreadable file.
 */
export async function offsetAtTime(path: string, tsMs: number): Promise<number> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r');
    const { size } = await fh.stat();
    const probe = Buffer.alloc(64 * 1024);
    // the timestamp of the first complete line starting at or after `pos`, and that line's start
    const lineAt = async (pos: number): Promise<{ start: number; ms: number } | null> => {
      let at = pos;
      if (at > 0) {
        // skip the partial line we landed in
        for (;;) {
          const { bytesRead } = await fh!.read(probe, 0, probe.length, at - 1);
          if (bytesRead === 0) return null;
          const nl = probe.subarray(0, bytesRead).indexOf(10);
          if (nl >= 0) {
            at = at - 1 + nl + 1;
            break;
          }
          at += bytesRead;
          if (at >= size) return null;
        }
      }
      const { bytesRead } = await fh!.read(probe, 0, probe.length, at);
      const text = probe.subarray(0, bytesRead).toString('utf8');
      const line = text.slice(0, text.indexOf('\n') >= 0 ? text.indexOf('\n') : undefined);
      const rec = parsePhaseLine(line);
      return rec ? { start: at, ms: recordTimeMs(rec) } : { start: at, ms: -Infinity };
    };
    let lo = 0;
    let hi = size;
    // invariant: every line starting before lo has ts < tsMs (as far as the probes saw)
    for (let i = 0; i < 64 && hi - lo > probe.length; i++) {
      const mid = Math.floor((lo + hi) / 2);
      const l = await lineAt(mid);
      if (!l || l.ms >= tsMs) hi = mid;
      else lo = l.start;
    }
    return lo;
  } catch {
    return 0;
  } finally {
    await fh?.close();
  }
}

/** How much of a file a backward read reads at a time. */
const BACKWARD_CHUNK_BYTES = 64 * 1024;
/** UTF-8 bytes of the longest line parsePhaseLine may accept (3 bytes per UTF-16 unit at most) */
const MAX_LINE_BYTES = 3 * MAX_LINE_CHARS;

/**
 * The lines of a file from its last to its first (up to byte `end`, default the whole file),
 * read in chunks from the end: reading the last few lines of a large file costs a chunk, not the
 * file. Lines are split on the newline byte, which no other UTF-8 sequence contains, and each
 * is decoded on its own; a last line without its newline (a torn write) comes first, as
 * readline would give it last. Lines longer than MAX_LINE_BYTES come back as '' (longer than any
 * record parsePhaseLine accepts), without being kept whole in memory. `stats.bytesRead` counts
 * what was read.
 */
export async function* linesBackward(file: string | FileHandle, o: { end?: number; stats?: { bytesRead: number } } = {}): AsyncGenerator<string> {
  let fh: FileHandle;
  if (typeof file === 'string') {
    try {
      fh = await open(file, 'r');
    } catch {
      return; // a replica that never wrote a log yet
    }
  } else fh = file;
  try {
    const size = (await fh.stat()).size;
    let pos = Math.min(o.end ?? size, size);
    const nonEmpty = pos > 0;
    const buf = Buffer.allocUnsafe(BACKWARD_CHUNK_BYTES);
    // the bytes after the last newline seen so far (the end of a line whose start is further back)
    let carry: Buffer[] = [];
    let carryBytes = 0;
    let first = true;
    while (pos > 0) {
      const len = Math.min(BACKWARD_CHUNK_BYTES, pos);
      pos -= len;
      const { bytesRead } = await fh.read(buf, 0, len, pos);
      if (o.stats) o.stats.bytesRead += bytesRead;
      const chunk = buf.subarray(0, bytesRead);
      let stop = chunk.length;
      // a file ending in a newline has no line after it
      if (first && stop > 0 && chunk[stop - 1] === 10) stop--;
      first = false;
      // (lastIndexOf with a negative offset would count from the end: stop at 0 ourselves)
      for (let nl = stop > 0 ? chunk.lastIndexOf(10, stop - 1) : -1; nl >= 0; nl = stop > 0 ? chunk.lastIndexOf(10, stop - 1) : -1) {
        const piece = chunk.subarray(nl + 1, stop);
        if (carryBytes + piece.length > MAX_LINE_BYTES) yield '';
        else yield* splitCr(carryBytes === 0 ? piece.toString('utf8') : Buffer.concat([piece, ...carry]).toString('utf8'));
        carry = [];
        carryBytes = 0;
        stop = nl;
      }
      // the rest of this chunk continues a line that started in an earlier chunk
      const rest = chunk.subarray(0, stop);
      if (carryBytes + rest.length <= MAX_LINE_BYTES) carry.unshift(Buffer.from(rest));
      carryBytes += rest.length;
    }
    // the first line (empty when the file starts with a newline)
    if (carryBytes > MAX_LINE_BYTES) yield '';
    else if (nonEmpty) yield* splitCr(Buffer.concat(carry).toString('utf8'));
  } finally {
    if (typeof file === 'string') await fh.close();
  }
}

/** The offset just after the last newline before byte `size` (0 when there is none). */
export async function lastLineEnd(path: string, size: number): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(BACKWARD_CHUNK_BYTES);
    for (let pos = size; pos > 0; ) {
      const len = Math.min(BACKWARD_CHUNK_BYTES, pos);
      pos -= len;
      const { bytesRead } = await fh.read(buf, 0, len, pos);
      const nl = buf.subarray(0, bytesRead).lastIndexOf(10);
      if (nl >= 0) return pos + nl + 1;
    }
    return 0;
  } finally {
    await fh.close();
  }
}

/** A line as readline splits it further (last first): CRLF ends a line, and so does a lone CR. */
function* splitCr(line: string): Generator<string> {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (!text.includes('\r')) {
    yield text;
    return;
  }
  const parts = text.split('\r');
  for (let i = parts.length - 1; i >= 0; i--) yield parts[i]!;
}

/**
 * The last `n` records matching `filter` of `files` merged in time order: the same records, in
 * the same order, as the last `n` that mergePhaseLogs yields (ties broken by replica id, then
 * by the files' order, then by line order), when each file is in time order, as a replica writes
 * it. Each file is read backwards from its end (or `endOffsets`), so `pbft logs -n 20` reads
 * about a chunk per file instead of every line of up to twice phaseLogMaxBytes per replica. A
 * replica's rotated file (listed before its current one) is read only when its current one holds
 * fewer than `n` matching records: every record in it sorts before the current file's. The files
 * of replicas that `filter.replicas` leaves out are not read (a replica's file holds its records).
 */
export async function tailMerged(
  files: readonly PhaseFile[],
  filter: PhaseFilter,
  n: number,
  o: { endOffsets?: ReadonlyMap<string, number>; stats?: MergeStats & { bytesRead?: number }; signal?: AbortSignal } = {},
): Promise<PhaseRecord[]> {
  const stats = o.stats ?? { skipped: 0 };
  const io = { bytesRead: 0 };
  type Hit = { rec: PhaseRecord; ms: number; file: number; line: number };
  const hits: Hit[] = [];
  // per replica, its files from the newest (listed last) to the oldest
  const byReplica = new Map<number, number[]>();
  files.forEach((f, i) => byReplica.set(f.replica, [i, ...(byReplica.get(f.replica) ?? [])]));
  // Every file is opened before any is read, in the order given (a rotated file before its
  // current one), as mergePhaseLogs opens them: a rotation while a current file is read
  // backwards (seconds, for a rare filter) would otherwise make the rotated path name the file
  // just read, and its records would come twice (found in review).
  const handles = new Map<number, FileHandle>();
  try {
    for (let i = 0; i < files.length; i++) {
      const file = files[i]!;
      // a replica's file holds its own records: one the filter leaves out is not read through
      if (o.endOffsets?.get(file.path) === 0 || (filter.replicas && !filter.replicas.has(file.replica))) continue;
      try {
        handles.set(i, await open(file.path, 'r'));
      } catch {
        // a replica that never wrote a log yet, or never rotated it
      }
    }
    for (const order of byReplica.values()) {
      let found = 0;
      for (const fi of order) {
        if (found >= n || o.signal?.aborted) break;
        const file = files[fi]!;
        const fh = handles.get(fi);
        if (fh === undefined) continue;
        const end = o.endOffsets?.get(file.path);
        let line = 0;
        for await (const text of linesBackward(fh, { ...(end !== undefined ? { end } : {}), stats: io })) {
          line--; // counted from the end: a later line has a larger number
          const rec = parsePhaseLine(text);
          if (!rec) {
            if (text.trim().length > 0) stats.skipped++;
            continue;
          }
          if (!matchesFilter(rec, filter)) continue;
          hits.push({ rec, ms: recordTimeMs(rec), file: fi, line });
          if (++found >= n) break;
        }
      }
    }
  } finally {
    for (const fh of handles.values()) await fh.close();
    if (o.stats) o.stats.bytesRead = (o.stats.bytesRead ?? 0) + io.bytesRead;
  }
  hits.sort((a, b) => a.ms - b.ms || a.rec.replica - b.rec.replica || a.file - b.file || a.line - b.line);
  return hits.slice(-n).map((h) => h.rec);
}

/** Read everything matching the filter into an array (for traces and tests). */
export async function readMerged(files: readonly PhaseFile[], filter: PhaseFilter = {}, limit = 1_000_000): Promise<PhaseRecord[]> {
  const out: PhaseRecord[] = [];
  for await (const r of mergePhaseLogs(files, filter)) {
    out.push(r);
    if (out.length >= limit) break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Following: tail every file from an offset, coping with files that appear later, grow,
// or are truncated / replaced.
// ---------------------------------------------------------------------------------------

interface TailState {
  offset: number;
  ino: number;
  partial: string;
}

/** Reads whatever was appended to a set of files since the last call. */
export class PhaseTail {
  private readonly state = new Map<string, TailState>();
  readonly stats: MergeStats = { skipped: 0 };
  /** largest chunk read from one file in one poll */
  static readonly CHUNK_BYTES = 4 << 20;

  constructor(startOffsets?: ReadonlyMap<string, { offset: number; ino: number }>) {
    for (const [p, s] of startOffsets ?? []) this.state.set(p, { offset: s.offset, ino: s.ino, partial: '' });
  }

  /** Current size and inode of each file (0 / -1 for a missing file). */
  static async snapshot(files: readonly PhaseFile[]): Promise<Map<string, { offset: number; ino: number }>> {
    const m = new Map<string, { offset: number; ino: number }>();
    for (const f of files) {
      try {
        const s = await stat(f.path);
        // the end of the last whole line: a line still being written (a write in parts) goes
        // to the follower whole, not half to the static part and half to the follower
        m.set(f.path, { offset: await lastLineEnd(f.path, s.size), ino: s.ino });
      } catch {
        m.set(f.path, { offset: 0, ino: -1 });
      }
    }
    return m;
  }

  /** New complete records from every file, merged in time order. */
  async poll(files: readonly PhaseFile[]): Promise<PhaseRecord[]> {
    const out: { rec: PhaseRecord; ms: number; i: number }[] = [];
    let i = 0;
    for (const f of files) {
      for (const rec of await this.readFile(f)) out.push({ rec, ms: recordTimeMs(rec), i: i++ });
    }
    out.sort((a, b) => a.ms - b.ms || a.rec.replica - b.rec.replica || a.i - b.i);
    return out.map((x) => x.rec);
  }

  private async readFile(f: PhaseFile): Promise<PhaseRecord[]> {
    let st = this.state.get(f.path);
    if (!st) {
      st = { offset: 0, ino: -1, partial: '' };
      this.state.set(f.path, st);
    }
    let size: number;
    let ino: number;
    try {
      const s = await stat(f.path);
      size = s.size;
      ino = s.ino;
    } catch {
      // gone (or not there yet): start from the beginning when it (re)appears
      st.offset = 0;
      st.ino = -1;
      st.partial = '';
      return [];
    }
    if ((st.ino !== -1 && ino !== st.ino) || size < st.offset) {
      // replaced or truncated: read the new content from the start
      st.offset = 0;
      st.partial = '';
    }
    st.ino = ino;
    if (size === st.offset) return [];
    const len = Math.min(size - st.offset, PhaseTail.CHUNK_BYTES);
    const buf = Buffer.alloc(len);
    let fh: FileHandle | undefined;
    try {
      fh = await open(f.path, 'r');
      const { bytesRead } = await fh.read(buf, 0, len, st.offset);
      st.offset += bytesRead;
      const text = st.partial + buf.subarray(0, bytesRead).toString('utf8');
      const lines = text.split('\n');
      st.partial = lines.pop() ?? '';
      if (st.partial.length > MAX_LINE_CHARS) {
        st.partial = '';
        this.stats.skipped++;
      }
      const recs: PhaseRecord[] = [];
      for (const line of lines) {
        const r = parsePhaseLine(line);
        if (r) recs.push(r);
        else if (line.trim().length > 0) this.stats.skipped++;
      }
      return recs;
    } catch {
      return [];
    } finally {
      await fh?.close();
    }
  }
}

export interface FollowOptions {
  /** the files to follow; called on every poll so files/replicas that appear later are seen */
  files: () => Promise<PhaseFile[]>;
  /** directories to watch for changes (missing ones are ignored; polling covers them) */
  watchDirs?: () => Promise<string[]>;
  filter?: PhaseFilter;
  startOffsets?: ReadonlyMap<string, { offset: number; ino: number }>;
  onRecord: (rec: PhaseRecord) => void;
  signal: AbortSignal;
  /** polling fallback period */
  pollMs?: number;
}

/** Follow the files until the signal aborts. fs.watch wakes it early; polling is the fallback. */
export async function followPhaseLogs(o: FollowOptions): Promise<void> {
  const tail = new PhaseTail(o.startOffsets);
  const pollMs = o.pollMs ?? 250;
  const watchers = new Map<string, FSWatcher>();
  let wake: (() => void) | null = null;
  const kick = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const onAbort = () => kick();
  o.signal.addEventListener('abort', onAbort);
  try {
    while (!o.signal.aborted) {
      const files = await o.files();
      if (o.watchDirs) {
        for (const d of await o.watchDirs()) {
          if (watchers.has(d)) continue;
          try {
            const w = watch(d, { persistent: false }, kick);
            w.on('error', () => {
              w.close();
              watchers.delete(d);
            });
            watchers.set(d, w);
          } catch {
            /* not there yet, or watching unsupported: polling covers it */
          }
        }
      }
      for (const rec of await tail.poll(files)) {
        if (o.signal.aborted) return;
        if (matchesFilter(rec, o.filter ?? {})) o.onRecord(rec);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, pollMs);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
        if (o.signal.aborted) kick();
      });
    }
  } finally {
    o.signal.removeEventListener('abort', onAbort);
    for (const w of watchers.values()) w.close();
  }
}
