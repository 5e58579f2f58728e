/**
 * The durable log of a replica: the core's PersistRecords, appended and made durable before the
 * driver sends anything that depends on them.
 *
 * Layout: a directory (replicas/<i>/wal/) of segment files 0000000000000001.log,
 * 0000000000000002.log, ... read in numeric order. Records are only ever appended to the last
 * (active) segment; nothing is rewritten.
 *
 * Frames: one line per commit, i.e. per batch of records that became durable together (group
 * commit: the driver never starts a commit while one is in flight, so at most one frame is ever
 * not yet durable, and it is the last one):
 *
 *     <crc32 of the JSON, 8 lower-case hex digits> <JSON array of records>\n
 *
 * The checksum is CRC-32 (zlib's polynomial) of the JSON's UTF-8 bytes: zlib.crc32 from Node
 * itself where it exists (Node >= 20.15; several GB/s), else the table-driven code below, which
 * gives the same values. A frame is all or nothing: a batch is never half loaded.
 *
 * Checkpoints: a batch holding a checkpoint record newer than the last one starts a new segment.
 * Its first frame is the batch itself (the checkpoint record carries the snapshot), preceded by
 * a copy of the latest `view` record and of the latest still-relevant `new-view` record, so that
 * no older segment is needed for those. An older segment is deleted once the stable checkpoint
 * covers every sequence number it holds (its pre-prepare, prepared and committed records); its
 * view, new-view and checkpoint records are then superseded by newer ones. So the log keeps what
 * `compactRecords` would keep, and a little more, without ever copying it. The new segment and
 * its directory entry are synced before that frame counts as durable, and only then are covered
 * segments unlinked (asynchronously: an unlink lost in a crash leaves an obsolete segment, which
 * is harmless and removed on the next start).
 *
 * I/O: commit() is asynchronous (libuv's thread pool): nothing on the event loop waits for the
 * disk. With fsync on, segments are opened O_DSYNC, so the write that returns has reached the
 * disk (fdatasync after the write where O_DSYNC does not exist); with `"fsync": false` nothing
 * is ever synced, files nor directories.
 *
 * Recovery (open, at start, synchronous): segments are read in order. A bad LAST frame of the
 * LAST segment (no newline, a checksum or JSON failure, zeros) is a torn append that was never
 * durable and so never relied on: it is cut off. A bad frame anywhere else is corruption, and
 * the log refuses to load with an error naming the file and line; never silently.
 *
 * Migration from the single-file format (wal.jsonl, SHA-256-checked lines, before segments):
 * open() converts it once, automatically: the old file is read with its own rules (a torn last
 * line ignored, corruption refused), compacted, written as segment 1 (temp file, sync, rename,
 * sync directory), and then replaced by a short note explaining the conversion, written so that
 * an older pbft refuses to start from it (it reads it as a corrupt log) instead of starting
 * empty and forgetting what this replica signed.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { PersistRecord } from '../core/types.js';
import { isFullCheckpoint } from '../core/replica.js';
import { PbftError, describeError } from '../errors.js';
import { fsyncDir } from './fsutil.js';
import { recordsJson } from './record-json.js';
import { appendFlags, createSegment, fsyncDirAsync, writeAll, type AppendError } from './segment-append.js';

const KINDS = new Set(['view', 'pre-prepare', 'prepared', 'committed', 'new-view', 'checkpoint', 'recovery', 'target']);

const SEGMENT_RE = /^(\d{16})\.log$/;
const NL = 0x0a;
const SP = 0x20;

export interface DurableLogOptions {
  /** make every commit durable on disk (default true); false: no fsync of any kind, anywhere */
  fsync?: boolean;
  /** folds records (the core's compactRecords); used when converting a single-file log */
  compact?: (records: PersistRecord[]) => PersistRecord[];
  /** the single-file log of older versions (wal.jsonl), converted on open if present */
  legacyFile?: string;
  /** names the owner in error messages, e.g. "replica 2" */
  label?: string;
  /** largest segment file accepted on load */
  maxBytes?: number;
  /**
   * Covered segments are deleted only when the owner says so (deleteCovered(upTo)), never by
   * the log itself, at a rollover or at open: the audit ledger trails the durable log and is
   * repaired from it after a crash, so a segment must stay until the ledger holds its records.
   */
  deferDeletes?: boolean;
}

export interface LoadReport {
  records: number;
  /** frames (lines) read, over all segments */
  lines: number;
  segments: number;
  /** a torn last append was found and cut off */
  tornTail: boolean;
  bytes: number;
  /** covered segments found on disk and deleted (an unlink lost in a crash) */
  staleSegmentsDeleted: number;
  /** a single-file log (older format) was converted: its path and record count */
  migrated?: { from: string; records: number; tornTail: boolean };
}

// ---------------------------------------------------------------------------------------
// Checksum: CRC-32 (polynomial 0xEDB88320, as zlib, PNG, gzip)
// ---------------------------------------------------------------------------------------

const nativeCrc32 = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

let tables: Int32Array[] | null = null;
/** Slicing-by-8 CRC-32 in JavaScript: the same values as zlib.crc32, for Node < 20.15. */
export function crc32js(b: Uint8Array): number {
  if (!tables) {
    tables = Array.from({ length: 8 }, () => new Int32Array(256));
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
      tables[0]![i] = c;
    }
    for (let i = 0; i < 256; i++) for (let k = 1; k < 8; k++) tables[k]![i] = (tables[k - 1]![i]! >>> 8) ^ tables[0]![tables[k - 1]![i]! & 0xff]!;
  }
  const [t0, t1, t2, t3, t4, t5, t6, t7] = tables as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
  let c = -1;
  let i = 0;
  for (const n = b.length - 7; i < n; i += 8) {
    const a = c ^ (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24));
    c = t7[a & 0xff]! ^ t6[(a >>> 8) & 0xff]! ^ t5[(a >>> 16) & 0xff]! ^ t4[a >>> 24]! ^ t3[b[i + 4]!]! ^ t2[b[i + 5]!]! ^ t1[b[i + 6]!]! ^ t0[b[i + 7]!]!;
  }
  for (; i < b.length; i++) c = t0[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

export function crc32(b: Uint8Array): number {
  return nativeCrc32 ? nativeCrc32(b) >>> 0 : crc32js(b);
}

// ---------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------

/** One frame: "<crc32 hex> <JSON>\n" (the durable log's, and the audit ledger's: ledger.ts). */
export function encodeFrame<T>(records: readonly T[]): Buffer {
  return encodeFrameJson(JSON.stringify(records));
}

/** The frame of records already encoded as one JSON array (recordsJson). */
export function encodeFrameJson(json: string): Buffer {
  const len = Buffer.byteLength(json, 'utf8');
  const buf = Buffer.allocUnsafe(9 + len + 1);
  buf.write(json, 9, len, 'utf8');
  buf[8] = SP;
  buf[9 + len] = NL;
  buf.write(
    crc32(buf.subarray(9, 9 + len))
      .toString(16)
      .padStart(8, '0'),
    0,
    8,
    'latin1',
  );
  return buf;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function checkRecords(v: unknown): PersistRecord[] | string {
  if (!Array.isArray(v)) return 'not a record list';
  for (const r of v) {
    if (typeof r !== 'object' || r === null || !KINDS.has((r as { kind?: unknown }).kind as string)) return 'unknown record';
    // a full checkpoint's snapshot written as JSON (record-json.ts): the core takes it as a string
    const c = r as { kind: string; state?: unknown; snapshot?: unknown };
    if (c.kind === 'checkpoint' && Object.hasOwn(c, 'state')) {
      if (c.snapshot !== undefined || typeof c.state !== 'object' || c.state === null) return 'malformed checkpoint record';
      try {
        c.snapshot = JSON.stringify(c.state);
      } catch {
        return 'malformed checkpoint record';
      }
      delete c.state;
    }
  }
  return v as PersistRecord[];
}

/** Decode one frame (without its newline); a string says what is wrong. */
export function decodeFrame(line: Uint8Array): PersistRecord[] | string {
  if (line.length < 11 || line[8] !== SP) return 'not a log frame';
  let sum = 0;
  for (let i = 0; i < 8; i++) {
    const h = hexValue(line[i]!);
    if (h < 0) return 'not a log frame';
    sum = sum * 16 + h;
  }
  const body = line.subarray(9);
  if (crc32(body) !== sum) return 'checksum mismatch';
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    return 'invalid JSON';
  }
  return checkRecords(v);
}

export function segmentName(no: number): string {
  return `${String(no).padStart(16, '0')}.log`;
}

/** The highest sequence number a record is about (0 for view, new-view and checkpoint records). */
function seqOf(r: PersistRecord): number {
  let s: unknown = 0;
  if (r.kind === 'pre-prepare') s = r.msg?.body?.seq;
  else if (r.kind === 'prepared') s = r.cert?.prePrepare?.body?.seq;
  else if (r.kind === 'committed') s = r.entry?.seq;
  else if (r.kind === 'target') s = r.seq; // its segment stays until that checkpoint is stable
  return typeof s === 'number' && Number.isFinite(s) ? s : 0;
}

// ---------------------------------------------------------------------------------------
// The single-file format of older versions (read only, for the conversion)
// ---------------------------------------------------------------------------------------

const LEGACY_PREFIX = '{"c":"';
const LEGACY_MID = '","r":';
/** The note that replaces a converted wal.jsonl (two lines: an older pbft reads it as corrupt). */
export const LEGACY_NOTE =
  'pbft: this replica\'s durable log was converted to segment files in the "wal" directory next to this file by a newer pbft.\n' +
  'Run this replica with that newer pbft. This note stays so that an older pbft refuses to start (rather than start with an empty log); do not delete it.\n';

function legacyChecksum(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** Decode one line of the single-file format (without its newline). */
export function decodeLegacyLine(line: string): PersistRecord[] | string {
  if (!line.startsWith(LEGACY_PREFIX) || line.length < LEGACY_PREFIX.length + 16 + LEGACY_MID.length + 3) return 'not a log line';
  const sum = line.slice(LEGACY_PREFIX.length, LEGACY_PREFIX.length + 16);
  if (line.slice(LEGACY_PREFIX.length + 16, LEGACY_PREFIX.length + 16 + LEGACY_MID.length) !== LEGACY_MID || !line.endsWith('}')) return 'not a log line';
  const body = line.slice(LEGACY_PREFIX.length + 16 + LEGACY_MID.length, -1);
  if (legacyChecksum(body) !== sum) return 'checksum mismatch';
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return 'invalid JSON';
  }
  return checkRecords(v);
}

/** Encode one line of the single-file format (tests and tools only). */
export function encodeLegacyLine(records: PersistRecord[]): string {
  const body = JSON.stringify(records);
  return `${LEGACY_PREFIX + legacyChecksum(body) + LEGACY_MID + body}}\n`;
}

function readLegacy(file: string, label: string): { records: PersistRecord[]; tornTail: boolean } {
  const text = fs.readFileSync(file, 'utf8');
  const parts = text.split('\n');
  const records: PersistRecord[] = [];
  let torn = false;
  for (let i = 0; i < parts.length; i++) {
    const line = parts[i]!;
    if (i === parts.length - 1) {
      if (line.length > 0) torn = true; // no newline: the last append was torn
      break;
    }
    const isLast = i === parts.length - 2 && parts[parts.length - 1] === '';
    const decoded = decodeLegacyLine(line);
    if (typeof decoded === 'string') {
      if (isLast) {
        torn = true;
        break;
      }
      throw new PbftError(
        'WAL_CORRUPT',
        `${label}: durable log ${file} is corrupt at line ${i + 1} of ${parts.length - 1} (${decoded}); the replica cannot safely restart from it. Restore the file, or move it aside to restart empty and catch up from peers (safe only if at most f replicas ever do so)`,
      );
    }
    for (const r of decoded) records.push(r);
  }
  return { records, tornTail: torn };
}

// ---------------------------------------------------------------------------------------
// The log
// ---------------------------------------------------------------------------------------

interface Segment {
  no: number;
  file: string;
  bytes: number;
  frames: number;
  records: number;
  /** highest seq of its pre-prepare, prepared and committed records */
  maxSeq: number;
  /** its first frame holds a checkpoint record (a rollover) */
  anchor: boolean;
}

type Callback = (err: PbftError | null) => void;

export class DurableLog {
  private active: Segment;
  /** every segment on disk, oldest first; the last one is `active` */
  private segments: Segment[];
  private fd: number;
  private loaded: PersistRecord[] | null;
  private readonly doFsync: boolean;
  private readonly deferDeletes: boolean;
  private readonly label: string;
  /** the highest checkpoint seq written (the stable checkpoint) */
  private stable: number;
  private latestView: Extract<PersistRecord, { kind: 'view' }> | null = null;
  private latestNewView: Extract<PersistRecord, { kind: 'new-view' }> | null = null;
  /** an unfinished recovery (the core's recovery mode) must outlive the segments it was written in */
  private latestRecovery: Extract<PersistRecord, { kind: 'recovery' }> | null = null;
  private busy = false;
  private housekeeping = 0;
  private idleWaiters: Array<() => void> = [];
  private closed = false;
  /** statistics for status */
  appends = 0;
  /** segments started at a checkpoint */
  rollovers = 0;
  deletedSegments = 0;

  private constructor(
    readonly dir: string,
    segments: Segment[],
    fd: number,
    loaded: PersistRecord[],
    stable: number,
    o: DurableLogOptions,
    readonly loadReport: LoadReport,
  ) {
    this.segments = segments;
    this.active = segments[segments.length - 1]!;
    this.fd = fd;
    this.loaded = loaded;
    this.stable = stable;
    this.doFsync = o.fsync ?? true;
    this.deferDeletes = o.deferDeletes ?? false;
    this.label = o.label ?? 'durable log';
    for (const r of loaded) this.track(r);
  }

  /**
   * Open (creating if absent) and load the log in directory `dir`, converting a single-file log
   * first if `legacyFile` exists. Synchronous: for start-up only. Throws PbftError WAL_CORRUPT,
   * WAL_CONFLICT or WAL_IO with a one-line message that names the file and what to do.
   */
  static open(dir: string, o: DurableLogOptions = {}): DurableLog {
    const label = o.label ?? 'replica';
    const doFsync = o.fsync ?? true;
    const maxBytes = o.maxBytes ?? 4 * 1024 * 1024 * 1024;
    const ioError = (what: string, e: unknown) =>
      e instanceof PbftError
        ? e
        : new PbftError('WAL_IO', `${label}: cannot ${what}: ${describeError(e)}; check the directory exists and is writable`, { cause: e });

    let created = false;
    try {
      if (!fs.existsSync(dir)) {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        created = true;
      }
    } catch (e) {
      throw ioError(`create its durable log directory ${dir}`, e);
    }
    if (created && doFsync) fsyncDir(path.dirname(dir));

    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch (e) {
      throw ioError(`read its durable log directory ${dir}`, e);
    }
    for (const n of names) if (n.startsWith('.tmp-')) fs.rmSync(path.join(dir, n), { force: true }); // an interrupted conversion
    let nums = names.flatMap((n) => {
      const m = SEGMENT_RE.exec(n);
      return m ? [Number(m[1])] : [];
    });
    nums.sort((a, b) => a - b);

    // The single-file log of older versions: convert it once.
    let migrated: LoadReport['migrated'];
    if (o.legacyFile && fs.existsSync(o.legacyFile)) {
      const legacy = o.legacyFile;
      let text: string;
      try {
        text = fs.readFileSync(legacy, 'utf8');
      } catch (e) {
        throw ioError(`read its durable log ${legacy}`, e);
      }
      if (!text.startsWith(LEGACY_NOTE.slice(0, 40))) {
        const old = readLegacy(legacy, label);
        const compacted = o.compact ? o.compact(old.records) : old.records;
        if (nums.length > 0) {
          // Only an interrupted conversion leaves both: then segment 1 holds exactly the old log.
          const only = nums.length === 1 ? readSegmentFrames(path.join(dir, segmentName(nums[0]!)), label, maxBytes, true) : null;
          const same = only !== null && only.frames.length === 1 && JSON.stringify(only.frames[0]) === JSON.stringify(compacted);
          if (!same)
            // Not damage (so not WAL_CORRUPT, which starts recovery and moves the log aside):
            // two intact logs, and only the operator knows which one this replica last ran with.
            throw new PbftError(
              'WAL_CONFLICT',
              `${label}: both an old-format durable log ${legacy} and segment files in ${dir} exist, and they differ; keep the one this replica last ran with (move the other aside) and start it again`,
            );
        } else {
          const tmp = path.join(dir, `.tmp-convert-${process.pid}`);
          try {
            const data = encodeFrame(compacted);
            fs.writeFileSync(tmp, data, { mode: 0o600, flag: 'wx' });
            if (doFsync) syncFile(tmp);
            fs.renameSync(tmp, path.join(dir, segmentName(1)));
            if (doFsync) fsyncDir(dir);
          } catch (e) {
            throw ioError(`convert its durable log ${legacy} to segment files in ${dir}`, e);
          }
          nums = [1];
        }
        try {
          writeFileAtomic(legacy, LEGACY_NOTE, doFsync);
        } catch (e) {
          throw ioError(`replace the converted durable log ${legacy} by a note`, e);
        }
        migrated = { from: legacy, records: old.records.length, tornTail: old.tornTail };
      }
    }

    // Read every segment in order.
    const segments: Segment[] = [];
    const records: PersistRecord[] = [];
    let stable = 0;
    let tornTail = false;
    let lines = 0;
    let bytes = 0;
    const firstFrameHasCheckpoint: boolean[] = [];
    for (let k = 0; k < nums.length; k++) {
      const no = nums[k]!;
      const file = path.join(dir, segmentName(no));
      const isLast = k === nums.length - 1;
      const r = readSegmentFrames(file, label, maxBytes, isLast);
      if (r.torn) {
        tornTail = true;
        try {
          const tfd = fs.openSync(file, 'r+');
          try {
            fs.ftruncateSync(tfd, r.goodBytes);
            if (doFsync) fs.fsyncSync(tfd);
          } finally {
            fs.closeSync(tfd);
          }
        } catch (e) {
          throw ioError(`cut the torn end off its durable log ${file}`, e);
        }
      }
      if (isLast && r.frames.length === 0 && k > 0) {
        // a segment whose first frame was torn: it was never durable, nothing relied on it
        fs.rmSync(file, { force: true });
        if (doFsync) fsyncDir(dir);
        continue;
      }
      const seg: Segment = { no, file, bytes: r.goodBytes, frames: r.frames.length, records: 0, maxSeq: 0, anchor: false };
      for (const frame of r.frames) {
        for (const rec of frame) {
          records.push(rec);
          seg.records++;
          seg.maxSeq = Math.max(seg.maxSeq, seqOf(rec));
          if (isFullCheckpoint(rec) && typeof rec.seq === 'number' && rec.seq > stable) stable = rec.seq;
        }
      }
      seg.anchor = r.frames[0]?.some(isFullCheckpoint) ?? false;
      firstFrameHasCheckpoint.push(seg.anchor);
      lines += r.frames.length;
      bytes += r.goodBytes;
      segments.push(seg);
    }

    // Delete segments a newer checkpoint segment covers (their unlink was lost in a crash), unless
    // the owner deletes them (deferDeletes: the audit ledger may still need their records).
    let staleSegmentsDeleted = 0;
    let anchoredAfter = false;
    for (let k = segments.length - 1; k >= 0 && !o.deferDeletes; k--) {
      const s = segments[k]!;
      if (anchoredAfter && s.maxSeq <= stable) {
        fs.rmSync(s.file, { force: true });
        bytes -= s.bytes;
        staleSegmentsDeleted++;
        segments.splice(k, 1);
        // (its records stay in `records`: obsolete, and the core folds them away)
      } else if (firstFrameHasCheckpoint[k]) anchoredAfter = true;
    }

    // The active segment: the last one, or a first, empty one.
    if (segments.length === 0) segments.push({ no: 1, file: path.join(dir, segmentName(1)), bytes: 0, frames: 0, records: 0, maxSeq: 0, anchor: false });
    const active = segments[segments.length - 1]!;
    let fd: number;
    try {
      const existed = fs.existsSync(active.file);
      fd = fs.openSync(active.file, appendFlags(doFsync), 0o600);
      if (!existed && doFsync) fsyncDir(dir);
    } catch (e) {
      throw ioError(`open its durable log ${active.file}`, e);
    }
    const report: LoadReport = {
      records: records.length,
      lines,
      segments: segments.length,
      tornTail,
      bytes,
      staleSegmentsDeleted,
      ...(migrated ? { migrated } : {}),
    };
    return new DurableLog(dir, segments, fd, records, stable, o, report);
  }

  /** Every record read at open, in order (what the core gets on restart); then released. */
  takeRecords(): PersistRecord[] {
    const r = this.loaded ?? [];
    this.loaded = null;
    return r;
  }

  /** Records read at open (until takeRecords). */
  get records(): readonly PersistRecord[] {
    return this.loaded ?? [];
  }

  get sizeBytes(): number {
    let b = 0;
    for (const s of this.segments) b += s.bytes;
    return b;
  }

  get recordCount(): number {
    let n = 0;
    for (const s of this.segments) n += s.records;
    return n;
  }

  /** Segment files on disk (their numbers, oldest first). */
  get segmentNumbers(): number[] {
    return this.segments.map((s) => s.no);
  }

  get stableSeq(): number {
    return this.stable;
  }

  /** Is a commit in flight? */
  get inFlight(): boolean {
    return this.busy;
  }

  private track(r: PersistRecord): void {
    if (r.kind === 'view') {
      if (!this.latestView || r.view >= this.latestView.view) this.latestView = r;
    } else if (r.kind === 'new-view') {
      if (!this.latestNewView || r.msg.body.newView >= this.latestNewView.msg.body.newView) this.latestNewView = r;
    } else if (r.kind === 'recovery') {
      if (!this.latestRecovery || r.timestamp >= this.latestRecovery.timestamp) this.latestRecovery = r;
    }
  }

  /**
   * What a new segment must repeat from older ones: the latest recovery record, finished or not
   * (a finished one too: the segments holding a recovery's start and its end may be deleted in
   * any order, and a crash between the two unlinks must not leave the start alone, which would
   * make the replica recover again), the latest view and new-view records.
   */
  private carry(): PersistRecord[] {
    const out: PersistRecord[] = [];
    if (this.latestRecovery) out.push(this.latestRecovery);
    if (this.latestView) out.push(this.latestView);
    if (this.latestNewView && (!this.latestView || this.latestNewView.msg.body.newView >= this.latestView.view)) out.push(this.latestNewView);
    return out;
  }

  /** walError for the shared append code (segment-append.ts) */
  private readonly ioError: AppendError = (what, file, e) => this.walError(what, file, e);

  private walError(what: string, file: string, e: unknown, fix = 'free disk space or fix the disk and restart it'): PbftError {
    return new PbftError('WAL_IO', `${this.label}: cannot ${what} its durable log ${file}: ${describeError(e)}; ${fix}`, { cause: e });
  }

  /**
   * Make a batch of records durable, asynchronously: one frame, one write; cb(null) once it is
   * on disk (with fsync on) or in the OS (fsync off), cb(error) if not. One commit at a time (the
   * driver's group commit): a second one while one is in flight is a driver bug and throws.
   * A batch holding a newer checkpoint record starts a new segment.
   */
  commit(records: PersistRecord[], cb: Callback): void {
    if (this.busy) throw new PbftError('WAL_IO', `${this.label}: durable log committed while a commit is in flight (driver bug)`);
    if (this.closed) {
      process.nextTick(cb, new PbftError('WAL_IO', `${this.label}: durable log is closed`));
      return;
    }
    if (records.length === 0) {
      process.nextTick(cb, null); // everything committed before is durable already
      return;
    }
    let checkpoint = 0;
    for (const r of records) if (isFullCheckpoint(r) && r.seq > this.stable && r.seq > checkpoint) checkpoint = r.seq;
    const frameRecords = checkpoint > 0 ? [...this.carry(), ...records] : records;
    let maxSeq = 0;
    for (const r of records) {
      this.track(r);
      const s = seqOf(r);
      if (s > maxSeq) maxSeq = s;
    }
    let buf: Buffer;
    try {
      buf = encodeFrameJson(recordsJson(frameRecords));
    } catch (e) {
      process.nextTick(cb, new PbftError('WAL_IO', `${this.label}: cannot encode a durable log record: ${describeError(e)}`, { cause: e }));
      return;
    }
    this.busy = true;
    const done = (err: PbftError | null) => {
      this.busy = false;
      if (!err) this.appends++;
      cb(err);
      this.notifyIdle();
    };
    if (checkpoint === 0) {
      writeAll(this.fd, buf, this.active.file, this.doFsync, this.ioError, (err) => {
        if (!err) {
          this.active.bytes += buf.length;
          this.active.frames++;
          this.active.records += frameRecords.length;
          this.active.maxSeq = Math.max(this.active.maxSeq, maxSeq);
        }
        done(err);
      });
      return;
    }
    this.rollover(buf, frameRecords.length, maxSeq, checkpoint, done);
  }

  /** Promise form of commit(). */
  append(records: PersistRecord[]): Promise<void> {
    return new Promise((resolve, reject) => this.commit(records, (e) => (e ? reject(e) : resolve())));
  }

  private rollover(buf: Buffer, nRecords: number, maxSeq: number, checkpoint: number, done: Callback): void {
    const seg: Segment = {
      no: this.active.no + 1,
      file: path.join(this.dir, segmentName(this.active.no + 1)),
      bytes: 0,
      frames: 0,
      records: 0,
      maxSeq: 0,
      anchor: true,
    };
    createSegment(seg.file, buf, this.doFsync, this.ioError, (err, fd) => {
      if (err) return done(err);
      const finish = (derr: PbftError | null) => {
        if (derr) {
          fs.close(fd, () => undefined);
          return done(derr);
        }
        seg.bytes = buf.length;
        seg.frames = 1;
        seg.records = nRecords;
        seg.maxSeq = maxSeq;
        const oldFd = this.fd;
        this.fd = fd;
        this.active = seg;
        this.segments.push(seg);
        this.stable = checkpoint;
        this.rollovers++;
        this.housekeeping++;
        fs.close(oldFd, () => {
          this.housekeeping--;
          this.notifyIdle();
        });
        if (!this.deferDeletes) this.deleteCovered();
        done(null);
      };
      if (!this.doFsync) return finish(null);
      fsyncDirAsync(this.dir, (e) => finish(e ? this.walError('sync the directory of', this.dir, e) : null));
    });
  }

  /**
   * Unlink every segment but the active one whose sequence numbers the stable checkpoint covers,
   * and that `upTo` covers as well (with deferDeletes, how far the owner's audit ledger got).
   * Only segments older than the newest one that starts at a checkpoint are deleted.
   */
  deleteCovered(upTo = Number.POSITIVE_INFINITY): void {
    const bound = Math.min(this.stable, upTo);
    // the newest segment that starts at a checkpoint: only older ones may go
    let anchor = -1;
    for (let k = this.segments.length - 1; k > 0 && anchor < 0; k--) if (this.segments[k]!.anchor) anchor = k;
    const keep: Segment[] = [];
    for (let k = 0; k < this.segments.length; k++) {
      const s = this.segments[k]!;
      if (s !== this.active && k < anchor && s.maxSeq <= bound) {
        this.housekeeping++;
        this.deletedSegments++;
        fs.unlink(s.file, () => {
          // an unlink that fails leaves an obsolete segment: removed on the next start
          this.housekeeping--;
          this.notifyIdle();
        });
      } else keep.push(s);
    }
    this.segments = keep;
  }

  private notifyIdle(): void {
    if (this.busy || this.housekeeping > 0) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /** Resolves when no commit, close or unlink is in flight. */
  whenIdle(): Promise<void> {
    if (!this.busy && this.housekeeping === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Close. Await whenIdle() first if a commit may be in flight. Every commit is durable already. */
  close(): void {
    if (this.closed) return;
    if (this.busy) throw new PbftError('WAL_IO', `${this.label}: durable log closed while a commit is in flight (driver bug)`);
    this.closed = true;
    try {
      fs.closeSync(this.fd);
    } catch {
      /* closing anyway */
    }
  }
}

/** Read the frames of one segment file. A bad last frame is torn if `mayBeTorn`, else corruption. */
function readSegmentFrames(file: string, label: string, maxBytes: number, mayBeTorn: boolean): { frames: PersistRecord[][]; goodBytes: number; torn: boolean } {
  let data: Buffer;
  try {
    const size = fs.statSync(file).size;
    if (size > maxBytes)
      throw new PbftError('WAL_CORRUPT', `${label}: durable log segment ${file} is ${size} bytes, larger than the ${maxBytes} accepted; it is not a pbft log`);
    data = fs.readFileSync(file);
  } catch (e) {
    if (e instanceof PbftError) throw e;
    throw new PbftError('WAL_IO', `${label}: cannot read its durable log ${file}: ${describeError(e)}`, { cause: e });
  }
  // count lines first, for "line i of n" in messages
  let total = 0;
  for (let p = data.indexOf(NL); p !== -1; p = data.indexOf(NL, p + 1)) total++;
  const partial = data.length > 0 && data[data.length - 1] !== NL;
  const frames: PersistRecord[][] = [];
  let start = 0;
  let lineNo = 0;
  const corrupt = (what: string) =>
    new PbftError(
      'WAL_CORRUPT',
      `${label}: durable log ${file} is corrupt at line ${lineNo} of ${total + (partial ? 1 : 0)} (${what}); the replica cannot safely restart from it. Restore the file, or move the whole wal directory aside to restart empty and catch up from peers (safe only if at most f replicas ever do so)`,
    );
  while (start < data.length) {
    const end = data.indexOf(NL, start);
    lineNo++;
    if (end === -1) {
      // no newline: an append torn by a crash, if this is the end of the log
      if (mayBeTorn) return { frames, goodBytes: start, torn: true };
      throw corrupt('a partial line at the end of a segment that is not the last one');
    }
    const decoded = decodeFrame(data.subarray(start, end));
    if (typeof decoded === 'string') {
      if (mayBeTorn && end === data.length - 1) return { frames, goodBytes: start, torn: true };
      throw corrupt(decoded);
    }
    frames.push(decoded);
    start = end + 1;
  }
  return { frames, goodBytes: start, torn: false };
}

function syncFile(file: string): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Write a small file atomically (temp, rename), syncing only when asked. Start-up only. */
function writeFileAtomic(file: string, text: string, doFsync: boolean): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  if (doFsync) syncFile(tmp);
  fs.renameSync(tmp, file);
  if (doFsync) fsyncDir(path.dirname(file));
}
