import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compactRecords } from '../../src/core/replica.js';
import type { PersistRecord } from '../../src/core/types.js';
import { DurableLog, decodeLine, encodeLine } from '../../src/runtime/storage.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pbft-wal-'));
  file = path.join(dir, 'wal.jsonl');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const D = (c: string) => c.repeat(64).slice(0, 64);
const view = (v: number): PersistRecord => ({ kind: 'view', view: v, viewChanging: false });
function committed(seq: number): PersistRecord {
  return { kind: 'committed', entry: { view: 0, seq, digest: D(String(seq % 10)), batch: [], commits: [] } };
}
function checkpoint(seq: number): PersistRecord {
  return { kind: 'checkpoint', seq, digest: D('c'), snapshot: '[]', proof: [] };
}

describe('DurableLog', () => {
  it('creates the file (mode 0600) and reloads what was appended, in order', () => {
    const log = DurableLog.open(file);
    expect(log.records).toEqual([]);
    log.append([view(1), committed(1)]);
    log.append([committed(2)]);
    log.append([]);
    log.close();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(2); // one line per append
    const again = DurableLog.open(file);
    expect(again.records).toEqual([view(1), committed(1), committed(2)]);
    expect(again.loadReport).toMatchObject({ tornTail: false, lines: 2, records: 3 });
    again.close();
  });

  it('ignores a torn last append (no newline) and cuts it off before appending again', () => {
    const log = DurableLog.open(file);
    log.append([committed(1)]);
    log.close();
    const full = encodeLine([committed(2)]);
    appendFileSync(file, full.slice(0, full.length - 20)); // a crash in the middle of a write
    const reopened = DurableLog.open(file);
    expect(reopened.loadReport.tornTail).toBe(true);
    expect(reopened.records).toEqual([committed(1)]);
    reopened.append([committed(3)]);
    reopened.close();
    expect(DurableLog.open(file).records).toEqual([committed(1), committed(3)]);
  });

  it('treats a complete but corrupt LAST line as torn (never synced), and zero-filled tails too', () => {
    const log = DurableLog.open(file);
    log.append([committed(1)]);
    log.close();
    const bad = encodeLine([committed(2)]).replace('"seq":2', '"seq":9'); // checksum no longer matches
    appendFileSync(file, bad);
    expect(DurableLog.open(file).records).toEqual([committed(1)]);
    appendFileSync(file, Buffer.alloc(100)); // zeros after a crash
    const l = DurableLog.open(file);
    expect(l.records).toEqual([committed(1)]);
    expect(l.loadReport.tornTail).toBe(true);
    l.close();
  });

  it('refuses to load a log corrupted before its last line, with a one-line reason', () => {
    const log = DurableLog.open(file, { label: 'replica 2' });
    log.append([committed(1)]);
    log.append([committed(2)]);
    log.append([committed(3)]);
    log.close();
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[1] = lines[1]!.replace('"seq":2', '"seq":7');
    writeFileSync(file, lines.join('\n'));
    expect(() => DurableLog.open(file, { label: 'replica 2' })).toThrow(/replica 2: durable log .* is corrupt at line 2 of 3 \(checksum mismatch\)/);
    try {
      DurableLog.open(file);
    } catch (e) {
      expect(e).toMatchObject({ code: 'WAL_CORRUPT' });
      expect((e as Error).message).not.toContain('\n');
    }
  });

  it('compacts at a checkpoint record (temp file + rename): obsolete records are gone, the rest reloads', () => {
    const log = DurableLog.open(file, { compact: compactRecords });
    for (let s = 1; s <= 6; s++) log.append([committed(s)]);
    const before = statSync(file).size;
    log.append([view(0), checkpoint(4)]);
    expect(log.compactions).toBe(1);
    expect(log.records).toEqual(compactRecords([...[1, 2, 3, 4, 5, 6].map(committed), view(0), checkpoint(4)]));
    expect(log.records.filter((r) => r.kind === 'committed').map((r) => (r as { entry: { seq: number } }).entry.seq)).toEqual([5, 6]);
    expect(statSync(file).size).toBeLessThan(before);
    log.append([committed(7)]);
    log.close();
    expect(readdirSync(dir)).toEqual(['wal.jsonl']); // no temp file left behind
    const again = DurableLog.open(file, { compact: compactRecords });
    expect(again.records.map((r) => r.kind)).toEqual(['view', 'checkpoint', 'committed', 'committed', 'committed']);
    again.close();
  });

  it('write + async sync: one unsynced line at most; no write or compaction while a sync is in flight', async () => {
    const log = DurableLog.open(file, { compact: compactRecords });
    log.write([committed(1)]);
    expect(log.unsynced).toBe(true);
    const done = new Promise<unknown>((resolve) => log.sync(resolve));
    expect(() => log.write([committed(2)])).toThrow(/sync is in flight/);
    expect(() => log.sync(() => undefined)).toThrow(/two syncs/);
    expect(await done).toBe(null);
    await log.whenIdle();
    expect(log.unsynced).toBe(false);
    log.write([committed(2), view(0), checkpoint(2)]); // compaction syncs everything
    expect(log.unsynced).toBe(false);
    log.write([committed(3)]);
    await new Promise((resolve) => log.sync(resolve));
    log.close();
    expect(DurableLog.open(file).records.map((r) => r.kind)).toEqual(['view', 'checkpoint', 'committed']);
  });

  it('line codec: round trip, and a string for anything that is not a valid line', () => {
    const recs = [view(3), committed(1)];
    expect(decodeLine(encodeLine(recs).trimEnd())).toEqual(recs);
    expect(decodeLine('')).toBe('not a log line');
    expect(decodeLine('{"c":"0000000000000000","r":[]}')).toBe('checksum mismatch');
    const unknown = encodeLine([{ kind: 'weird' } as unknown as PersistRecord]).trimEnd();
    expect(decodeLine(unknown)).toBe('unknown record');
  });
});
