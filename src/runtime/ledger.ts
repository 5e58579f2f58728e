/**
 * The audit ledger of a replica: what it executed and the proofs that it was allowed to, for
 * `pbft verify` (src/audit) to check after the fact. Append-only, never read by the replica
 * itself for its own safety (that is the durable log's job, storage.ts): a damaged ledger never
 * keeps a replica from starting.
 *
 * Layout: replicas/<i>/ledger/, segment files 0000000000000001.ledger, ...; records are appended
 * to the last one only. Frames are those of the durable log: one line per write,
 *
 *     <crc32 of the JSON, 8 lower-case hex digits> <JSON array of records>\n
 *
 * Records (LedgerRecord):
 * - `head`: the first record of every segment: format version, replica id, cluster id (a digest
 *   of the cluster's name and public keys), the segment number, when it was started, and the
 *   highest executed seq and stable checkpoint recorded before it (where retention starts).
 * - `exec`: one per executed sequence number: view, seq, batch digest, the requests' ids
 *   (client, timestamp, request digest) and the commit certificate, 2f+1 signed COMMITs. `src`
 *   is `commit` when the core reported it, `restart` when it was re-executed from the durable log
 *   after a restart and the certificate came from that log (a crash after the durable log's
 *   write and before the ledger's).
 * - `checkpoint`: a stable checkpoint certificate (seq, state digest, 2f+1 signed CHECKPOINTs);
 *   `src` `state-transfer` when the state was fetched from peers: the sequence numbers it skips
 *   have no execution here, and the certificate explains the gap.
 * - `own-checkpoint`: the CHECKPOINT message this replica signed (its state digest at seq).
 *
 * Writes: the ledger trails the durable log, off the send path (replica-node.ts): a batch's
 * ledger records are queued once the durable log's frame for it is durable and its messages
 * are sent, and one write at a time takes every batch queued meanwhile. A crash may lose that
 * queue; the next start repairs it from the durable log (ledger-feed.ts), which deletes no
 * segment before the ledger holds its records. With fsync on, segments are opened O_DSYNC like
 * the durable log's; with fsync off nothing is synced.
 *
 * Rotation and retention: a write that would take the active segment past `segmentBytes`
 * (default 8 MiB) starts a new segment; then the oldest segments are deleted while all of them
 * together exceed `maxBytes` (default 256 MiB). Both are set per replica in replica.json
 * (`ledgerSegmentBytes`, `ledgerMaxBytes`). Verification covers what is retained.
 *
 * Opening (start-up): only the last segment is read. A torn last frame (no newline, or a bad last
 * line: a crash during a write) is cut off. A bad frame before the end is left as it is, for
 * `pbft verify` to report, and writing goes on in a new segment.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { CheckpointBody, CommitBody, Hex, ReplicaId, Signed } from '../core/types.js';
import { PbftError, describeError } from '../errors.js';
import { fsyncDir } from './fsutil.js';
import { crc32, encodeFrame } from './storage.js';
import { appendFlags, createSegment, fsyncDirAsync, writeAll, type AppendError } from './segment-append.js';

export const LEDGER_VERSION = 1;
export const LEDGER_SEGMENT_BYTES = 8 * 1024 * 1024;
export const LEDGER_MAX_BYTES = 256 * 1024 * 1024;
const SEGMENT_RE = /^(\d{16})\.ledger$/;
const NL = 0x0a;
const SP = 0x20;

export interface LedgerRequestId {
  client: string;
  timestamp: number;
  /** the request's digest */
  digest: Hex;
}

export type LedgerRecord =
  | { k: 'head'; v: number; replica: ReplicaId; cluster: Hex; segment: number; createdAt: number; lastSeq: number; lastCheckpoint: number }
  | {
      k: 'exec';
      view: number;
      seq: number;
      digest: Hex;
      requests: LedgerRequestId[];
      cert: Signed<CommitBody>[] | null;
      src: 'commit' | 'restart';
    }
  | { k: 'checkpoint'; seq: number; digest: Hex; proof: Signed<CheckpointBody>[]; src: 'stable' | 'state-transfer' | 'restart' }
  | { k: 'own-checkpoint'; msg: Signed<CheckpointBody> };

export type ExecRecord = Extract<LedgerRecord, { k: 'exec' }>;
export type CheckpointRecord = Extract<LedgerRecord, { k: 'checkpoint' }>;

// ---------------------------------------------------------------------------------------
// Validation (nothing read from disk is trusted: verify reads ledgers others may have altered)
// ---------------------------------------------------------------------------------------

const nat = z.number().int().nonnegative().safe();
const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const sig = z.string().regex(/^[0-9a-f]{64,128}$/);
const commitSchema = z
  .object({
    body: z.object({ type: z.literal('commit'), view: nat, seq: nat, digest: hex64, replica: nat }).strict(),
    sig,
  })
  .strict();
const checkpointMsgSchema = z
  .object({
    body: z.object({ type: z.literal('checkpoint'), seq: nat, digest: hex64, replica: nat }).strict(),
    sig,
  })
  .strict();
const recordSchema = z.discriminatedUnion('k', [
  z.object({ k: z.literal('head'), v: nat, replica: nat, cluster: hex64, segment: nat, createdAt: nat, lastSeq: nat, lastCheckpoint: nat }).strict(),
  z
    .object({
      k: z.literal('exec'),
      view: nat,
      seq: nat,
      digest: hex64,
      requests: z.array(z.object({ client: z.string().min(1).max(200), timestamp: nat, digest: hex64 }).strict()).max(100_000),
      cert: z.array(commitSchema).max(1024).nullable(),
      src: z.enum(['commit', 'restart']),
    })
    .strict(),
  z
    .object({
      k: z.literal('checkpoint'),
      seq: nat,
      digest: hex64,
      proof: z.array(checkpointMsgSchema).max(1024),
      src: z.enum(['stable', 'state-transfer', 'restart']),
    })
    .strict(),
  z.object({ k: z.literal('own-checkpoint'), msg: checkpointMsgSchema }).strict(),
]);
const frameSchema = z.array(recordSchema).min(1).max(1_000_000);

// ---------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------

/** A ledger frame: the durable log's framing (storage.ts), CRC-32 then JSON, one line. */
export function encodeLedgerFrame(records: LedgerRecord[]): Buffer {
  return encodeFrame(records);
}

/** Decode one frame (without its newline); a string says what is wrong. */
export function decodeLedgerFrame(line: Uint8Array): LedgerRecord[] | string {
  if (line.length < 11 || line[8] !== SP) return 'not a ledger frame';
  const head = Buffer.from(line.buffer, line.byteOffset, 8).toString('latin1');
  if (!/^[0-9a-f]{8}$/.test(head)) return 'not a ledger frame';
  const body = line.subarray(9);
  if (crc32(body) !== Number.parseInt(head, 16)) return 'checksum mismatch';
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    return 'invalid JSON';
  }
  const r = frameSchema.safeParse(v);
  if (!r.success) {
    const i = r.error.issues[0];
    return `not ledger records (${i ? `${i.path.join('.') || 'frame'}: ${i.message}` : 'invalid'})`;
  }
  return r.data as LedgerRecord[];
}

export function ledgerSegmentName(no: number): string {
  return `${String(no).padStart(16, '0')}.ledger`;
}

/** Segment numbers in a ledger directory, oldest first ([] if it does not exist). */
export function listLedgerSegments(dir: string): number[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names
    .map((n) => SEGMENT_RE.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------
// Reading, tolerantly (pbft verify): every readable frame, and what could not be read
// ---------------------------------------------------------------------------------------

export interface LedgerDamage {
  file: string;
  /** 1-based line number in that file (0: the file as a whole) */
  line: number;
  reason: string;
}

export interface LedgerFrame {
  file: string;
  line: number;
  records: LedgerRecord[];
}

export interface LedgerRead {
  dir: string;
  exists: boolean;
  segments: number[];
  bytes: number;
  frames: LedgerFrame[];
  /** frames that could not be read (checksum, JSON, schema), with where they are */
  damaged: LedgerDamage[];
  /** the last line of the last segment is incomplete or bad: a write in flight or torn by a crash */
  tornTail: boolean;
}

/** Read every segment of a ledger; never throws for what is in the files. */
export function readLedger(dir: string, o: { maxSegmentBytes?: number } = {}): LedgerRead {
  const maxBytes = o.maxSegmentBytes ?? 1024 * 1024 * 1024;
  const out: LedgerRead = { dir, exists: fs.existsSync(dir), segments: [], bytes: 0, frames: [], damaged: [], tornTail: false };
  let nums: number[];
  try {
    nums = listLedgerSegments(dir);
  } catch (e) {
    out.damaged.push({ file: dir, line: 0, reason: `cannot list: ${describeError(e)}` });
    return out;
  }
  for (let k = 0; k < nums.length; k++) {
    const file = path.join(dir, ledgerSegmentName(nums[k]!));
    let data: Buffer;
    try {
      const size = fs.statSync(file).size;
      if (size > maxBytes) {
        out.damaged.push({ file, line: 0, reason: `${size} bytes, more than the ${maxBytes} accepted` });
        continue;
      }
      data = fs.readFileSync(file);
    } catch (e) {
      // deleted by retention while we read: nothing to report
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      out.damaged.push({ file, line: 0, reason: `cannot read: ${describeError(e)}` });
      continue;
    }
    out.segments.push(nums[k]!);
    out.bytes += data.length;
    const isLast = k === nums.length - 1;
    let start = 0;
    let line = 0;
    while (start < data.length) {
      let end = data.indexOf(NL, start);
      line++;
      const partial = end === -1;
      if (partial) end = data.length;
      const decoded = partial ? 'incomplete last line' : decodeLedgerFrame(data.subarray(start, end));
      if (typeof decoded === 'string') {
        if (isLast && end >= data.length - 1) out.tornTail = true;
        else out.damaged.push({ file, line, reason: decoded });
      } else out.frames.push({ file, line, records: decoded });
      start = end + 1;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Writing (the replica)
// ---------------------------------------------------------------------------------------

export interface LedgerOptions {
  replica: ReplicaId;
  /** the cluster's id (keyring.clusterId) */
  clusterId: Hex;
  /** make every write durable (default true) */
  fsync?: boolean;
  /** start a new segment beyond this size (default 8 MiB) */
  segmentBytes?: number;
  /** delete the oldest segments while all exceed this (default 256 MiB) */
  maxBytes?: number;
  /** names the owner in messages, e.g. "replica 2" */
  label?: string;
}

export interface LedgerOpenReport {
  segments: number;
  bytes: number;
  /** a torn last frame was cut off */
  tornTail: boolean;
  /** a bad frame before the end of the last segment: left for verify, writing goes on in a new segment */
  damaged: string | null;
}

type Callback = (err: PbftError | null) => void;

interface Seg {
  no: number;
  file: string;
  bytes: number;
}

export class AuditLedger {
  private segs: Seg[];
  private active: Seg | null;
  private fd: number | null;
  private busy = false;
  private failed: PbftError | null = null;
  private closed = false;
  private housekeeping = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly doFsync: boolean;
  private readonly segmentBytes: number;
  private readonly maxBytes: number;
  private readonly label: string;
  /** highest executed seq recorded */
  lastSeq: number;
  /** highest stable checkpoint recorded */
  lastCheckpoint: number;
  writes = 0;
  deletedSegments = 0;

  private constructor(
    readonly dir: string,
    private readonly o: LedgerOptions,
    segs: Seg[],
    fd: number | null,
    lastSeq: number,
    lastCheckpoint: number,
    readonly openReport: LedgerOpenReport,
  ) {
    this.segs = segs;
    this.active = fd === null ? null : segs[segs.length - 1]!;
    this.fd = fd;
    this.lastSeq = lastSeq;
    this.lastCheckpoint = lastCheckpoint;
    this.doFsync = o.fsync ?? true;
    this.segmentBytes = o.segmentBytes ?? LEDGER_SEGMENT_BYTES;
    this.maxBytes = o.maxBytes ?? LEDGER_MAX_BYTES;
    this.label = o.label ?? `replica ${o.replica}`;
  }

  /** Open (creating the directory if absent). Synchronous, for start-up. Throws PbftError LEDGER_IO. */
  static open(dir: string, o: LedgerOptions): AuditLedger {
    const label = o.label ?? `replica ${o.replica}`;
    const doFsync = o.fsync ?? true;
    const ioError = (what: string, e: unknown) =>
      new PbftError('LEDGER_IO', `${label}: cannot ${what}: ${describeError(e)}; free disk space or fix the directory and restart it`, { cause: e });
    let nums: number[];
    try {
      if (!fs.existsSync(dir)) {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        if (doFsync) fsyncDir(path.dirname(dir));
      }
      nums = listLedgerSegments(dir);
    } catch (e) {
      throw ioError(`create or list its audit ledger directory ${dir}`, e);
    }
    const segs: Seg[] = [];
    for (const no of nums) {
      const file = path.join(dir, ledgerSegmentName(no));
      try {
        segs.push({ no, file, bytes: fs.statSync(file).size });
      } catch (e) {
        throw ioError(`read its audit ledger ${file}`, e);
      }
    }
    const report: LedgerOpenReport = { segments: segs.length, bytes: 0, tornTail: false, damaged: null };
    let lastSeq = 0;
    let lastCheckpoint = 0;
    let fd: number | null = null;
    for (;;) {
      const last = segs[segs.length - 1];
      if (!last) break;
      let torn = false;
      let data: Buffer;
      try {
        data = fs.readFileSync(last.file);
      } catch (e) {
        throw ioError(`read its audit ledger ${last.file}`, e);
      }
      let start = 0;
      let line = 0;
      let good = 0;
      while (start < data.length) {
        const end = data.indexOf(NL, start);
        line++;
        const decoded = end === -1 ? 'incomplete last line' : decodeLedgerFrame(data.subarray(start, end));
        if (typeof decoded === 'string') {
          if (end === -1 || end === data.length - 1) {
            torn = true;
            break;
          }
          // damage before the end: left for verify; later frames still say how far it got
          report.damaged ??= `${last.file} line ${line}: ${decoded}`;
          start = end + 1;
          continue;
        }
        for (const r of decoded) {
          if (r.k === 'head') {
            lastSeq = Math.max(lastSeq, r.lastSeq);
            lastCheckpoint = Math.max(lastCheckpoint, r.lastCheckpoint);
          } else if (r.k === 'exec') lastSeq = Math.max(lastSeq, r.seq);
          else if (r.k === 'checkpoint') {
            lastCheckpoint = Math.max(lastCheckpoint, r.seq);
            lastSeq = Math.max(lastSeq, r.seq);
          }
        }
        good = end + 1;
        start = end + 1;
      }
      report.tornTail ||= torn;
      if (torn && report.damaged === null) {
        try {
          const tfd = fs.openSync(last.file, 'r+');
          try {
            fs.ftruncateSync(tfd, good);
            if (doFsync) fs.fsyncSync(tfd);
          } finally {
            fs.closeSync(tfd);
          }
          last.bytes = good;
        } catch (e) {
          throw ioError(`cut the torn end off its audit ledger ${last.file}`, e);
        }
      }
      // A crash (or a full disk) while a new segment's first frame was written leaves it empty:
      // it holds nothing, and the segment before it tells how far the ledger got.
      if (last.bytes === 0 && segs.length > 1) {
        try {
          fs.unlinkSync(last.file);
        } catch (e) {
          throw ioError(`remove the empty audit ledger segment ${last.file}`, e);
        }
        segs.pop();
        continue;
      }
      if (report.damaged === null && last.bytes > 0) {
        try {
          fd = fs.openSync(last.file, appendFlags(doFsync), 0o600);
        } catch (e) {
          throw ioError(`open its audit ledger ${last.file}`, e);
        }
      }
      break;
    }
    report.segments = segs.length;
    for (const s of segs) report.bytes += s.bytes;
    return new AuditLedger(dir, o, segs, fd, lastSeq, lastCheckpoint, report);
  }

  get sizeBytes(): number {
    let b = 0;
    for (const s of this.segs) b += s.bytes;
    return b;
  }

  get segmentNumbers(): number[] {
    return this.segs.map((s) => s.no);
  }

  /** A write has failed: the ledger accepts nothing more (the replica stops). */
  get failure(): PbftError | null {
    return this.failed;
  }

  private readonly error: AppendError = (what, file, e) => {
    return new PbftError(
      'LEDGER_IO',
      `${this.label}: cannot ${what} its audit ledger ${file}: ${describeError(e)}; free disk space or fix the disk and restart it`,
      {
        cause: e,
      },
    );
  };

  /**
   * Append records as one frame, asynchronously; cb(null) once durable (fsync on) or in the OS.
   * One write at a time (the node's group commit); after a failed write every later one fails.
   */
  commit(records: LedgerRecord[], cb: Callback): void {
    if (this.busy) throw new PbftError('LEDGER_IO', `${this.label}: audit ledger written while a write is in flight (driver bug)`);
    if (this.failed || this.closed) {
      process.nextTick(cb, this.failed ?? new PbftError('LEDGER_IO', `${this.label}: audit ledger is closed`));
      return;
    }
    if (records.length === 0) {
      process.nextTick(cb, null);
      return;
    }
    let lastSeq = this.lastSeq;
    let lastCheckpoint = this.lastCheckpoint;
    for (const r of records) {
      if (r.k === 'exec') lastSeq = Math.max(lastSeq, r.seq);
      else if (r.k === 'checkpoint') {
        lastCheckpoint = Math.max(lastCheckpoint, r.seq);
        lastSeq = Math.max(lastSeq, r.seq);
      }
    }
    this.busy = true;
    const done = (err: PbftError | null) => {
      this.busy = false;
      if (err) this.failed = err;
      else {
        this.writes++;
        this.lastSeq = lastSeq;
        this.lastCheckpoint = lastCheckpoint;
      }
      cb(err);
      this.notifyIdle();
    };
    const active = this.active;
    if (active && this.fd !== null && active.bytes < this.segmentBytes) {
      let buf: Buffer;
      try {
        buf = encodeLedgerFrame(records);
      } catch (e) {
        return done(new PbftError('LEDGER_IO', `${this.label}: cannot encode an audit ledger record: ${describeError(e)}`, { cause: e }));
      }
      if (active.bytes + buf.length <= this.segmentBytes || active.bytes === 0) {
        const fd = this.fd;
        return writeAll(fd, buf, active.file, this.doFsync, this.error, (err) => {
          if (!err) active.bytes += buf.length;
          done(err);
        });
      }
    }
    this.rotate(records, done);
  }

  /** Promise form of commit(). */
  append(records: LedgerRecord[]): Promise<void> {
    return new Promise((resolve, reject) => this.commit(records, (e) => (e ? reject(e) : resolve())));
  }

  /** Start a new segment whose first frame is a head record followed by `records`. */
  private rotate(records: LedgerRecord[], done: Callback): void {
    const no = (this.segs[this.segs.length - 1]?.no ?? 0) + 1;
    const seg: Seg = { no, file: path.join(this.dir, ledgerSegmentName(no)), bytes: 0 };
    const head: LedgerRecord = {
      k: 'head',
      v: LEDGER_VERSION,
      replica: this.o.replica,
      cluster: this.o.clusterId,
      segment: no,
      createdAt: Date.now(),
      lastSeq: this.lastSeq,
      lastCheckpoint: this.lastCheckpoint,
    };
    let buf: Buffer;
    try {
      buf = encodeLedgerFrame([head, ...records]);
    } catch (e) {
      return done(new PbftError('LEDGER_IO', `${this.label}: cannot encode an audit ledger record: ${describeError(e)}`, { cause: e }));
    }
    createSegment(seg.file, buf, this.doFsync, this.error, (err, fd) => {
      if (err) return done(err);
      const finish = (derr: PbftError | null) => {
        if (derr) {
          fs.close(fd, () => undefined);
          return done(derr);
        }
        seg.bytes = buf.length;
        const old = this.fd;
        this.fd = fd;
        this.active = seg;
        this.segs.push(seg);
        if (old !== null) {
          this.housekeeping++;
          fs.close(old, () => {
            this.housekeeping--;
            this.notifyIdle();
          });
        }
        this.retain();
        done(null);
      };
      if (!this.doFsync) return finish(null);
      // As the durable log: a segment whose directory entry may not be durable fails the write.
      // Otherwise a power loss could take the new segment, and with it records the durable log
      // has deleted because the ledger held them (platforms that cannot sync a directory at all
      // are not an error: fsyncDirAsync).
      fsyncDirAsync(this.dir, (e) => finish(e ? this.error('sync the directory of', this.dir, e) : null));
    });
  }

  /** Delete the oldest segments (never the active one) while all of them exceed maxBytes. */
  private retain(): void {
    let total = this.sizeBytes;
    while (this.segs.length > 1 && total > this.maxBytes) {
      const s = this.segs.shift()!;
      total -= s.bytes;
      this.deletedSegments++;
      this.housekeeping++;
      fs.unlink(s.file, () => {
        this.housekeeping--;
        this.notifyIdle();
      });
    }
  }

  private notifyIdle(): void {
    if (this.busy || this.housekeeping > 0) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /** Resolves when no write, close or unlink is in flight. */
  whenIdle(): Promise<void> {
    if (!this.busy && this.housekeeping === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd !== null) {
      try {
        fs.closeSync(this.fd);
      } catch {
        /* closing anyway */
      }
      this.fd = null;
    }
  }
}
