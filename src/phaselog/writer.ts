/**
 * The replica's phase log writer: replicas/<i>/phases.jsonl, one JSON object per line
 * {ts, replica, view, seq?, phase, digest?, peer?, client?, timestamp?, reason?, detail?}.
 *
 * Off the critical path: write() only stamps the record with the time and queues it. Lines are
 * encoded and written later, in batches, with asynchronous writes (libuv's thread pool), at most
 * one write every MIN_INTERVAL_MS: a record queued after a quiet spell is written at the end of
 * the event-loop turn (setImmediate), so an idle replica's lines reach the file at once; under
 * load, records gather for up to MIN_INTERVAL_MS (or until MAX_BATCH records) and go out in one
 * write, so the thread pool is not woken once per turn. At most one write is in flight, so lines
 * stay in order. flush() writes at once (ready, fault and stop lines). Not fsynced: the phase log
 * is for people and tools, the durable log is for safety.
 *
 * Drop records are rate-limited so that a flood of bad messages cannot fill the disk; if the
 * disk stalls, at most MAX_QUEUED records wait and the rest are counted, not kept; the file
 * rotates to phases.1.jsonl past maxBytes.
 */
import fs from 'node:fs';
import type { ReplicaId } from '../core/types.js';
import { encodePhaseLine, type PhaseLine, rotatedPhaseLog } from './record.js';

export interface PhaseLogOptions {
  replica: ReplicaId;
  enabled?: boolean;
  maxBytes?: number;
  /** drop records per second written at most (default 100); the rest are counted */
  maxDropsPerSec?: number;
  now?: () => number;
}

/** records waiting for the disk, at most (beyond: counted and reported, not kept) */
const MAX_QUEUED = 200_000;
/**
 * At most one write per this many ms, unless MAX_BATCH records wait or flush() is called: each
 * write wakes a thread-pool thread, which costs tens of microseconds of CPU, and up to a few
 * tenths of a millisecond of the event loop's time on a busy 2-core machine.
 */
const MIN_INTERVAL_MS = 50;
const MAX_BATCH = 4096;

type Queued = { ts: number; rec: PhaseLine } | { ts: number; raw: Record<string, unknown> };

export class PhaseLogWriter {
  private fd: number | null = null;
  private queue: Queued[] = [];
  private bytes = 0;
  private scheduled: { kind: 'immediate'; h: NodeJS.Immediate } | { kind: 'timeout'; h: NodeJS.Timeout } | null = null;
  private writing = false;
  /** performance.now() when the last write started */
  private lastWriteAt = -Infinity;
  /** flush() asked for a write at once */
  private urgent = false;
  private closing = false;
  /** records queued so far, and records whose write completed (or failed) */
  private queuedCount = 0;
  private doneCount = 0;
  private waiters: Array<{ upTo: number; resolve: () => void }> = [];
  private dropTokens: number;
  private dropRefillAt = 0;
  private suppressed = 0;
  private overflow = 0;
  private errorsReported = 0;
  private readonly maxBytes: number;
  private readonly maxDrops: number;
  private readonly now: () => number;
  /** records accepted (queued for the file) */
  lines = 0;
  /** writes issued to the file */
  writes = 0;

  constructor(
    readonly file: string,
    private readonly o: PhaseLogOptions,
  ) {
    this.maxBytes = o.maxBytes ?? 64 * 1024 * 1024;
    this.maxDrops = o.maxDropsPerSec ?? 100;
    this.dropTokens = this.maxDrops;
    this.now = o.now ?? Date.now;
    if (o.enabled !== false) {
      this.fd = fs.openSync(this.file, 'a', 0o644);
      this.bytes = fs.fstatSync(this.fd).size;
    }
  }

  write(rec: PhaseLine): void {
    if (this.fd === null || this.closing) return;
    const ts = this.now();
    if (rec.phase === 'drop') {
      if (ts >= this.dropRefillAt) {
        if (this.suppressed > 0) {
          this.push({
            ts,
            raw: {
              ts,
              replica: this.o.replica,
              view: rec.view,
              phase: 'drop',
              reason: 'suppressed',
              detail: `${this.suppressed} more drop records not logged (rate limit ${this.maxDrops}/s)`,
            },
          });
          this.suppressed = 0;
        }
        this.dropTokens = this.maxDrops;
        this.dropRefillAt = ts + 1000;
      }
      if (this.dropTokens <= 0) {
        this.suppressed++;
        return;
      }
      this.dropTokens--;
    }
    this.push({ ts, rec });
  }

  private push(q: Queued): void {
    if (this.queue.length >= MAX_QUEUED) {
      this.overflow++;
      return;
    }
    if (this.overflow > 0) {
      const n = this.overflow;
      this.overflow = 0;
      this.push({
        ts: q.ts,
        raw: {
          ts: q.ts,
          replica: this.o.replica,
          view: 'rec' in q ? q.rec.view : 0,
          phase: 'drop',
          reason: 'suppressed',
          detail: `${n} phase records not logged (the disk was too slow)`,
        },
      });
    }
    this.queue.push(q);
    this.queuedCount++;
    this.lines++;
    this.schedule();
  }

  /** Arrange the next write: at once after a quiet spell, else MIN_INTERVAL_MS after the last. */
  private schedule(): void {
    if (this.writing || this.queue.length === 0) return;
    const wait = this.urgent || this.queue.length >= MAX_BATCH ? 0 : this.lastWriteAt + MIN_INTERVAL_MS - performance.now();
    if (this.scheduled) {
      if (wait > 0 || this.scheduled.kind === 'immediate') return;
      clearTimeout(this.scheduled.h); // now urgent: do not wait for the timer
      this.scheduled = null;
    }
    const run = () => {
      this.scheduled = null;
      this.writeQueued();
    };
    this.scheduled = wait <= 0 ? { kind: 'immediate', h: setImmediate(run) } : { kind: 'timeout', h: setTimeout(run, Math.ceil(wait)) };
  }

  private encode(q: Queued): string {
    if ('raw' in q) return JSON.stringify(q.raw);
    return encodePhaseLine(q.ts, this.o.replica, q.rec);
  }

  /** Start one write of everything queued, unless one is in flight (it continues when done). */
  private writeQueued(): void {
    if (this.writing || this.fd === null || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    let text = '';
    for (const q of batch) text += `${this.encode(q)}\n`;
    const data = Buffer.from(text, 'utf8');
    const upTo = this.doneCount + batch.length;
    this.writing = true;
    this.urgent = false;
    this.lastWriteAt = performance.now();
    this.writes++;
    const fd = this.fd;
    let off = 0;
    const step = (): void =>
      fs.write(fd, data, off, data.length - off, null, (err, n) => {
        if (!err) {
          off += n;
          if (off < data.length) return step();
          this.bytes += data.length;
        } else if (this.errorsReported++ < 10) {
          process.stderr.write(`replica ${this.o.replica}: cannot write the phase log ${this.file}: ${err.message}\n`);
        }
        this.completed(upTo);
      });
    step();
  }

  private completed(upTo: number): void {
    this.doneCount = upTo;
    const next = () => {
      this.writing = false;
      this.release();
      this.schedule();
    };
    if (this.bytes > this.maxBytes && !this.closing) this.rotate(next);
    else next();
  }

  private release(): void {
    if (this.waiters.length === 0) return;
    const keep: typeof this.waiters = [];
    for (const w of this.waiters) w.upTo <= this.doneCount ? w.resolve() : keep.push(w);
    this.waiters = keep;
  }

  /** phases.jsonl -> phases.1.jsonl, then a fresh phases.jsonl (asynchronously) */
  private rotate(then: () => void): void {
    const fd = this.fd!;
    fs.close(fd, () => {
      fs.rename(this.file, rotatedPhaseLog(this.file), () => {
        // on a failed rename, keep appending to the same file
        fs.open(this.file, 'a', 0o644, (err, nfd) => {
          if (err) {
            if (this.errorsReported++ < 10) process.stderr.write(`replica ${this.o.replica}: cannot reopen the phase log ${this.file}: ${err.message}\n`);
            this.fd = null;
            this.doneCount = this.queuedCount;
            this.queue = [];
          } else {
            this.fd = nfd;
            this.bytes = 0;
          }
          then();
        });
      });
    });
  }

  /** Resolves once every record written so far is in the file (or failed to get there). */
  flush(): Promise<void> {
    const upTo = this.queuedCount;
    if (this.doneCount >= upTo || this.fd === null) return Promise.resolve();
    const p = new Promise<void>((resolve) => this.waiters.push({ upTo, resolve }));
    this.urgent = true;
    this.schedule();
    return p;
  }

  /** Write what is queued, then close the file. */
  async close(): Promise<void> {
    do await this.flush();
    while (this.fd !== null && (this.queue.length > 0 || this.writing));
    this.closing = true;
    const fd = this.fd;
    this.fd = null;
    if (fd !== null) fs.closeSync(fd);
  }
}
