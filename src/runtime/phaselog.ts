/**
 * The replica's phase log writer: replicas/<i>/phases.jsonl, one JSON object per line
 * {ts, replica, view, seq?, phase, digest?, peer?, client?, timestamp?, reason?, detail?}.
 *
 * Lines are buffered and written in one write per event-loop turn (not fsynced: the phase log is
 * for people and tools, the durable log is for safety). Drop records are rate-limited so that a
 * flood of bad messages cannot fill the disk; the file rotates to phases.1.jsonl past maxBytes.
 */
import { closeSync, fstatSync, openSync, renameSync, writeSync } from 'node:fs';
import type { PhaseEvent, ReplicaId } from '../core/types.js';

export type PhaseLine = Omit<PhaseEvent, 'phase' | 'reason'> & { phase: string; reason?: string };

export interface PhaseLogOptions {
  replica: ReplicaId;
  enabled?: boolean;
  maxBytes?: number;
  /** drop records per second written at most (default 100); the rest are counted */
  maxDropsPerSec?: number;
  now?: () => number;
}

export class PhaseLogWriter {
  private fd: number | null = null;
  private buf: string[] = [];
  private bytes = 0;
  private scheduled = false;
  private dropTokens: number;
  private dropRefillAt = 0;
  private suppressed = 0;
  private readonly maxBytes: number;
  private readonly maxDrops: number;
  private readonly now: () => number;
  lines = 0;

  constructor(
    readonly file: string,
    private readonly o: PhaseLogOptions,
  ) {
    this.maxBytes = o.maxBytes ?? 64 * 1024 * 1024;
    this.maxDrops = o.maxDropsPerSec ?? 100;
    this.dropTokens = this.maxDrops;
    this.now = o.now ?? Date.now;
    if (o.enabled !== false) this.open();
  }

  private open(): void {
    this.fd = openSync(this.file, 'a', 0o644);
    this.bytes = fstatSync(this.fd).size;
  }

  write(rec: PhaseLine): void {
    if (this.fd === null) return;
    const ts = this.now();
    if (rec.phase === 'drop') {
      if (ts >= this.dropRefillAt) {
        if (this.suppressed > 0) {
          this.push({ ts, replica: this.o.replica, view: rec.view, phase: 'drop', reason: 'suppressed', detail: `${this.suppressed} more drop records not logged (rate limit ${this.maxDrops}/s)` });
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
    const { phase, view, ...rest } = rec;
    this.push({ ts, replica: this.o.replica, view, phase, ...rest });
  }

  private push(obj: Record<string, unknown>): void {
    this.buf.push(JSON.stringify(obj));
    this.lines++;
    if (this.buf.length >= 4096) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.fd === null || this.buf.length === 0) return;
    const data = Buffer.from(this.buf.join('\n') + '\n', 'utf8');
    this.buf = [];
    try {
      let off = 0;
      while (off < data.length) off += writeSync(this.fd, data, off, data.length - off);
      this.bytes += data.length;
      if (this.bytes > this.maxBytes) this.rotate();
    } catch (e) {
      process.stderr.write(`replica ${this.o.replica}: cannot write the phase log ${this.file}: ${(e as Error).message}\n`);
    }
  }

  private rotate(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
    try {
      renameSync(this.file, this.file.replace(/\.jsonl$/, '') + '.1.jsonl');
    } catch {
      /* keep appending to the same file */
    }
    this.open();
  }

  close(): void {
    this.flush();
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
