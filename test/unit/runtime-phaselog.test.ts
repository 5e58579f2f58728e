/**
 * The replica's phase-log writer: asynchronous, batched, in order, and never a synchronous write
 * on the event loop while the replica runs.
 */
import fs, { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PhaseLogWriter } from '../../src/phaselog/index.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pbft-phases-'));
  file = path.join(dir, 'phases.jsonl');
});
afterEach(() => {
  vi.restoreAllMocks();
  syncBuiltinESMExports();
  rmSync(dir, { recursive: true, force: true });
});

const lines = (f = file) =>
  existsSync(f)
    ? readFileSync(f, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];

describe('PhaseLogWriter', () => {
  it('queues on write() (nothing written yet), then writes in batches, in order, with the same lines as before', async () => {
    const syncWrites = vi.spyOn(fs, 'writeSync');
    syncBuiltinESMExports();
    let t = 1000;
    const w = new PhaseLogWriter(file, { replica: 2, now: () => t++ });
    w.write({ phase: 'pre-prepare', view: 0, seq: 1, digest: 'ab', detail: '1 request(s)' });
    w.write({ phase: 'commit', view: 0, seq: 1, peer: 3, client: undefined });
    expect(readFileSync(file, 'utf8')).toBe(''); // write() did no I/O
    await w.flush();
    expect(lines()).toEqual([
      { ts: 1000, replica: 2, view: 0, phase: 'pre-prepare', seq: 1, digest: 'ab', detail: '1 request(s)' },
      { ts: 1001, replica: 2, view: 0, phase: 'commit', seq: 1, peer: 3 },
    ]);
    expect(readFileSync(file, 'utf8').split('\n')[0]).toBe(
      '{"ts":1000,"replica":2,"view":0,"phase":"pre-prepare","seq":1,"digest":"ab","detail":"1 request(s)"}',
    );
    // many records in one turn: a handful of writes, not one per record, and all in order
    const before = w.writes;
    for (let i = 0; i < 5000; i++) w.write({ phase: 'prepare', view: 0, seq: i });
    const flushed = w.flush();
    for (let i = 5000; i < 6000; i++) w.write({ phase: 'prepare', view: 0, seq: i }); // while a write is in flight
    await flushed;
    await w.close();
    const all = lines().slice(2);
    expect(all.map((l) => l.seq)).toEqual(Array.from({ length: 6000 }, (_, i) => i));
    expect(w.writes - before).toBeLessThanOrEqual(3);
    expect(syncWrites).not.toHaveBeenCalled();
  });

  it('under steady load, at most one write per 50 ms (not one per event-loop turn)', async () => {
    const w = new PhaseLogWriter(file, { replica: 0 });
    const t0 = performance.now();
    for (let turn = 0; turn < 300; turn++) {
      w.write({ phase: 'commit', view: 0, seq: turn });
      await new Promise((r) => setImmediate(r));
    }
    const elapsed = performance.now() - t0;
    await w.close();
    expect(lines().map((l) => l.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(w.writes).toBeLessThanOrEqual(Math.ceil(elapsed / 50) + 2); // by construction, not by timing luck
  });

  it('flush() resolves once the lines are in the file; close() writes everything queued', async () => {
    const w = new PhaseLogWriter(file, { replica: 0 });
    w.write({ phase: 'ready', view: 0 });
    await w.flush();
    expect(lines().map((l) => l.phase)).toEqual(['ready']);
    w.write({ phase: 'stop', view: 0, detail: 'signal' });
    await w.close();
    expect(lines().map((l) => l.phase)).toEqual(['ready', 'stop']);
    w.write({ phase: 'late', view: 0 }); // after close: ignored
    await w.flush();
    expect(lines()).toHaveLength(2);
  });

  it('rate-limits drop records and says how many it left out', async () => {
    let t = 0;
    const w = new PhaseLogWriter(file, { replica: 1, maxDropsPerSec: 3, now: () => t });
    for (let i = 0; i < 10; i++) w.write({ phase: 'drop', view: 0, reason: 'bad-signature' });
    t = 1500;
    w.write({ phase: 'drop', view: 0, reason: 'stale' });
    await w.close();
    const l = lines();
    expect(l.filter((x) => x.reason === 'bad-signature')).toHaveLength(3);
    expect(l.find((x) => x.reason === 'suppressed')?.detail).toBe('7 more drop records not logged (rate limit 3/s)');
    expect(l[l.length - 1]!.reason).toBe('stale');
  });

  it('rotates to phases.1.jsonl past maxBytes, without losing or reordering lines', async () => {
    const w = new PhaseLogWriter(file, { replica: 0, maxBytes: 2000 });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 30; i++) w.write({ phase: 'commit', view: 0, seq: round * 30 + i });
      await w.flush();
    }
    await w.close();
    const old = lines(path.join(dir, 'phases.1.jsonl'));
    const cur = lines();
    expect(old.length).toBeGreaterThan(0);
    const seqs = [...old, ...cur].map((l) => l.seq);
    // the oldest rotated file is overwritten by the next rotation: what is kept is a contiguous tail
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => 90 - seqs.length + i));
  });

  it('disabled: writes nothing and creates no file', async () => {
    const w = new PhaseLogWriter(file, { replica: 0, enabled: false });
    w.write({ phase: 'ready', view: 0 });
    await w.flush();
    await w.close();
    expect(existsSync(file)).toBe(false);
  });
});
