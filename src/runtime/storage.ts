/**
 * The durable log of a replica: the core's PersistRecords, appended and fsynced before the
 * driver sends anything that depends on them.
 *
 * Format (wal.jsonl): one line per write, i.e. per batch of records that became durable
 * together (the driver never writes while a sync is in flight, so at most one line is unsynced): {"c":"<checksum>","r":[<record>, ...]}\n, where the checksum is the first 16 hex
 * digits of SHA-256 over the exact text of the record array. A crash can only tear the last
 * append, which was never synced and so never relied on: a bad LAST line is ignored (and cut
 * off before the next append). A bad line anywhere else is corruption and refuses to load.
 *
 * Compaction: when a batch holds a checkpoint record, the log is rewritten as
 * compact(all records) into a temp file, fsynced, renamed over the log, and the directory
 * fsynced; a crash at any point leaves either the old or the new log.
 */
import { closeSync, fstatSync, fsync, fsyncSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { PersistRecord } from '../core/types.js';
import { PbftError, describeError } from '../errors.js';
import { fsyncDir, writeFileAtomicSync } from './fsutil.js';

const KINDS = new Set(['view', 'pre-prepare', 'prepared', 'committed', 'new-view', 'checkpoint']);
const PREFIX = '{"c":"';
const MID = '","r":';

export interface DurableLogOptions {
  /** fsync after every append (default true) */
  fsync?: boolean;
  /** folds records at a stable checkpoint (the core's compactRecords); default: keep all */
  compact?: (records: PersistRecord[]) => PersistRecord[];
  /** names the owner in error messages, e.g. "replica 2" */
  label?: string;
  /** largest log file accepted on load */
  maxBytes?: number;
}

export interface LoadReport {
  records: number;
  lines: number;
  /** a torn last append was found and cut off */
  tornTail: boolean;
  bytes: number;
}

function checksum(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

export function encodeLine(records: PersistRecord[]): string {
  const body = JSON.stringify(records);
  return PREFIX + checksum(body) + MID + body + '}\n';
}

/** Decode one line (without its newline); a string describes what is wrong. */
export function decodeLine(line: string): PersistRecord[] | string {
  if (!line.startsWith(PREFIX) || line.length < PREFIX.length + 16 + MID.length + 3) return 'not a log line';
  const sum = line.slice(PREFIX.length, PREFIX.length + 16);
  if (line.slice(PREFIX.length + 16, PREFIX.length + 16 + MID.length) !== MID || !line.endsWith('}')) return 'not a log line';
  const body = line.slice(PREFIX.length + 16 + MID.length, -1);
  if (checksum(body) !== sum) return 'checksum mismatch';
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return 'invalid JSON';
  }
  if (!Array.isArray(v)) return 'not a record list';
  for (const r of v) {
    if (typeof r !== 'object' || r === null || !KINDS.has((r as { kind?: unknown }).kind as string)) return 'unknown record';
  }
  return v as PersistRecord[];
}

export class DurableLog {
  private fd: number;
  private all: PersistRecord[];
  private readonly doFsync: boolean;
  private readonly compactFn: (records: PersistRecord[]) => PersistRecord[];
  private readonly label: string;
  private bytes: number;
  private closed = false;
  private written = 0;
  private synced = 0;
  private syncInFlight = false;
  private idleWaiters: Array<() => void> = [];
  /** statistics for status */
  appends = 0;
  compactions = 0;

  private constructor(
    readonly file: string,
    fd: number,
    records: PersistRecord[],
    bytes: number,
    o: DurableLogOptions,
    readonly loadReport: LoadReport,
  ) {
    this.fd = fd;
    this.all = records;
    this.bytes = bytes;
    this.doFsync = o.fsync ?? true;
    this.compactFn = o.compact ?? ((r) => r);
    this.label = o.label ?? 'durable log';
  }

  /** Open (creating if absent) and load the log. Throws PbftError WAL_CORRUPT / WAL_IO. */
  static open(file: string, o: DurableLogOptions = {}): DurableLog {
    const label = o.label ?? 'replica';
    const maxBytes = o.maxBytes ?? 4 * 1024 * 1024 * 1024;
    let fd: number;
    try {
      fd = openSync(file, 'a+', 0o600);
    } catch (e) {
      throw new PbftError('WAL_IO', `${label}: cannot open its durable log ${file}: ${describeError(e)}; check the directory exists and is writable`, { cause: e });
    }
    try {
      const size = fstatSync(fd).size;
      if (size > maxBytes) throw new PbftError('WAL_CORRUPT', `${label}: durable log ${file} is ${size} bytes, larger than the ${maxBytes} accepted; it is not a pbft log`);
      const text = size === 0 ? '' : readFileSync(file, 'utf8');
      const records: PersistRecord[] = [];
      const parts = text.split('\n');
      // parts[last] is '' when the file ends with a newline, else a partial (torn) line.
      let goodBytes = 0;
      let torn = false;
      let lines = 0;
      for (let i = 0; i < parts.length; i++) {
        const line = parts[i]!;
        const isLast = i === parts.length - 1 || (i === parts.length - 2 && parts[parts.length - 1] === '');
        if (i === parts.length - 1) {
          if (line.length > 0) torn = true; // no newline: the last append was torn
          break;
        }
        const decoded = decodeLine(line);
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
        goodBytes += Buffer.byteLength(line, 'utf8') + 1;
        lines++;
      }
      if (torn || goodBytes !== size) {
        ftruncateSync(fd, goodBytes);
        fsyncSync(fd);
      }
      if (size === 0) fsyncDir(path.dirname(file));
      return new DurableLog(file, fd, records, goodBytes, o, { records: records.length, lines, tornTail: torn, bytes: goodBytes });
    } catch (e) {
      closeSync(fd);
      if (e instanceof PbftError) throw e;
      throw new PbftError('WAL_IO', `${label}: cannot read its durable log ${file}: ${describeError(e)}`, { cause: e });
    }
  }

  /** Every record since the last compaction, in order (what the core gets on restart). */
  get records(): PersistRecord[] {
    return this.all;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  /**
   * Make a batch of records durable: one write, one fsync (synchronously). When the batch holds
   * a checkpoint record, the log is compacted afterwards.
   */
  append(records: PersistRecord[]): void {
    this.write(records);
    if (this.synced === this.written) return;
    try {
      if (this.doFsync) fsyncSync(this.fd);
    } catch (e) {
      throw new PbftError('WAL_IO', `${this.label}: cannot sync its durable log ${this.file}: ${describeError(e)}; free disk space or fix permissions and restart it`, { cause: e });
    }
    this.synced = this.written;
  }

  /**
   * Write a batch as one line WITHOUT syncing it (call sync() next; nothing that depends on it
   * may leave the process before sync() reports success). Not allowed while a sync is in flight,
   * so that at most one unsynced line ever exists: that is what makes a torn line the last one.
   * A batch holding a checkpoint record triggers compaction, which syncs everything.
   */
  write(records: PersistRecord[]): void {
    if (this.closed) throw new PbftError('WAL_IO', `${this.label}: durable log is closed`);
    if (this.syncInFlight) throw new PbftError('WAL_IO', `${this.label}: durable log written while a sync is in flight (driver bug)`);
    if (records.length === 0) return;
    const buf = Buffer.from(encodeLine(records), 'utf8');
    try {
      let off = 0;
      while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    } catch (e) {
      throw new PbftError('WAL_IO', `${this.label}: cannot write its durable log ${this.file}: ${describeError(e)}; free disk space or fix permissions and restart it`, { cause: e });
    }
    this.bytes += buf.length;
    this.appends++;
    this.written++;
    for (const r of records) this.all.push(r);
    if (records.some((r) => r.kind === 'checkpoint')) this.compact();
  }

  /** Is something written and not yet synced? */
  get unsynced(): boolean {
    return this.synced !== this.written;
  }

  /** fsync what was written so far, off the event loop; cb(null) once it is durable. */
  sync(cb: (err: PbftError | null) => void): void {
    if (this.syncInFlight) throw new PbftError('WAL_IO', `${this.label}: two syncs in flight (driver bug)`);
    if (!this.doFsync || this.synced === this.written || this.closed) {
      if (!this.closed) this.synced = this.written;
      process.nextTick(cb, this.closed ? new PbftError('WAL_IO', `${this.label}: durable log is closed`) : null);
      return;
    }
    const target = this.written;
    this.syncInFlight = true;
    fsync(this.fd, (err) => {
      this.syncInFlight = false;
      if (!err) this.synced = Math.max(this.synced, target);
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
      cb(err ? new PbftError('WAL_IO', `${this.label}: cannot sync its durable log ${this.file}: ${describeError(err)}; free disk space or fix the disk and restart it`, { cause: err }) : null);
    });
  }

  /** Resolves when no sync is in flight (before close). */
  whenIdle(): Promise<void> {
    if (!this.syncInFlight) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Rewrite the log as compact(records): temp file, fsync, rename, fsync directory. */
  compact(): void {
    if (this.syncInFlight) throw new PbftError('WAL_IO', `${this.label}: durable log compacted while a sync is in flight (driver bug)`);
    const next = this.compactFn(this.all);
    // Chunk the rewrite into lines of bounded record count; every line is independently valid.
    let text = '';
    const CHUNK = 256;
    for (let i = 0; i < next.length; i += CHUNK) text += encodeLine(next.slice(i, i + CHUNK));
    try {
      writeFileAtomicSync(this.file, text, 0o600);
      closeSync(this.fd);
      this.fd = openSync(this.file, 'a', 0o600);
    } catch (e) {
      throw new PbftError('WAL_IO', `${this.label}: cannot compact its durable log ${this.file}: ${describeError(e)}`, { cause: e });
    }
    this.all = next;
    this.bytes = Buffer.byteLength(text, 'utf8');
    this.compactions++;
    this.synced = this.written; // the rewrite was fsynced, and holds everything written
  }

  /** Close (sync first). Await whenIdle() before calling it if a sync may be in flight. */
  close(): void {
    if (this.closed) return;
    if (this.syncInFlight) throw new PbftError('WAL_IO', `${this.label}: durable log closed while a sync is in flight (driver bug)`);
    this.closed = true;
    try {
      if (this.doFsync) fsyncSync(this.fd);
    } catch {
      /* closing anyway */
    }
    closeSync(this.fd);
  }
}
