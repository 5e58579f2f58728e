import fs, { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CommitBody, PersistRecord, ReplicaAction, Signed } from '../../src/core/types.js';
import {
  AuditLedger,
  decodeLedgerFrame,
  encodeLedgerFrame,
  ledgerSegmentName,
  listLedgerSegments,
  readLedger,
  type LedgerRecord,
} from '../../src/runtime/ledger.js';
import { LedgerFeed } from '../../src/runtime/ledger-feed.js';

const D = (c: string) => c.repeat(64).slice(0, 64);
const CLUSTER = D('c');
const commit = (seq: number, replica: number, digest = D('a')): Signed<CommitBody> => ({
  body: { type: 'commit', view: 0, seq, digest, replica },
  sig: D('5'),
});
const exec = (seq: number, digest = D('a')): Extract<LedgerRecord, { k: 'exec' }> => ({
  k: 'exec',
  view: 0,
  seq,
  digest,
  requests: [{ client: 'client0', timestamp: seq, digest: D('e') }],
  cert: [commit(seq, 0, digest), commit(seq, 1, digest), commit(seq, 2, digest)],
  src: 'commit',
});

let dir: string;
beforeEach(() => {
  dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'pbft-ledger-')), 'ledger');
});
afterEach(() => {
  rmSync(path.dirname(dir), { recursive: true, force: true });
});

const open = (o: { segmentBytes?: number; maxBytes?: number } = {}) => AuditLedger.open(dir, { replica: 1, clusterId: CLUSTER, fsync: false, ...o });
const execSeqs = (r: ReturnType<typeof readLedger>) => r.frames.flatMap((f) => f.records.filter((x) => x.k === 'exec').map((x) => (x as { seq: number }).seq));

describe('audit ledger', () => {
  it('appends frames that a reopen and a reader see, each segment starting with a head record', async () => {
    const l = open();
    await l.append([exec(1)]);
    await l.append([exec(2), exec(3)]);
    expect(l.lastSeq).toBe(3);
    await l.whenIdle();
    l.close();
    const again = open();
    expect(again.lastSeq).toBe(3);
    expect(again.openReport).toMatchObject({ segments: 1, tornTail: false, damaged: null });
    await again.append([exec(4)]);
    again.close();
    const r = readLedger(dir);
    expect(r.damaged).toEqual([]);
    expect(execSeqs(r)).toEqual([1, 2, 3, 4]);
    const head = r.frames[0]!.records[0]!;
    expect(head).toMatchObject({ k: 'head', replica: 1, cluster: CLUSTER, segment: 1, lastSeq: 0 });
  });

  it('cuts a torn last write at reopen, and the reader reports it as a torn tail, not damage', async () => {
    const l = open();
    await l.append([exec(1)]);
    await l.append([exec(2)]);
    l.close();
    const file = path.join(dir, ledgerSegmentName(1));
    const whole = encodeLedgerFrame([exec(3)]);
    appendFileSync(file, whole.subarray(0, whole.length - 20)); // a crash in the middle of a write
    const r = readLedger(dir);
    expect(r.tornTail).toBe(true);
    expect(r.damaged).toEqual([]);
    expect(execSeqs(r)).toEqual([1, 2]);
    const before = statSync(file).size;
    const again = open();
    expect(again.openReport.tornTail).toBe(true);
    expect(again.lastSeq).toBe(2);
    expect(statSync(file).size).toBeLessThan(before);
    await again.append([exec(3)]);
    again.close();
    expect(execSeqs(readLedger(dir))).toEqual([1, 2, 3]);
    expect(readLedger(dir).tornTail).toBe(false);
  });

  it('leaves a corrupted record in place for the reader to report, and writes on in a new segment', async () => {
    const l = open();
    for (let s = 1; s <= 3; s++) await l.append([exec(s)]);
    l.close();
    const file = path.join(dir, ledgerSegmentName(1));
    const text = readFileSync(file, 'utf8').split('\n');
    text[1] = text[1]!.replace('"seq":2', '"seq":7'); // the checksum no longer matches
    writeFileSync(file, text.join('\n'));
    const r = readLedger(dir);
    expect(r.damaged).toEqual([{ file, line: 2, reason: 'checksum mismatch' }]);
    expect(execSeqs(r)).toEqual([1, 3]); // the reader goes on past it
    const again = open();
    expect(again.openReport.damaged).toContain('line 2');
    await again.append([exec(4)]);
    again.close();
    expect(listLedgerSegments(dir)).toEqual([1, 2]);
    expect(readFileSync(file, 'utf8')).toBe(text.join('\n')); // the evidence is untouched
    const after = readLedger(dir);
    expect(execSeqs(after)).toEqual([1, 3, 4]);
    expect(after.frames.at(-1)!.records[0]).toMatchObject({ k: 'head', segment: 2, lastSeq: 3 });
  });

  it('rejects frames that pass the checksum but are not ledger records', () => {
    const bad = encodeLedgerFrame([{ k: 'exec', seq: -1 } as unknown as LedgerRecord]);
    expect(decodeLedgerFrame(bad.subarray(0, bad.length - 1))).toMatch(/^not ledger records/);
    expect(decodeLedgerFrame(Buffer.from('zzzzzzzz []'))).toBe('not a ledger frame');
  });

  it('drops a new segment left empty or with a torn head by a crash in rotation, and goes on from the one before', async () => {
    const frame = encodeLedgerFrame([exec(1)]).length;
    for (const leftover of ['empty', 'torn head'] as const) {
      rmSync(dir, { recursive: true, force: true });
      const l = open({ segmentBytes: frame * 3 });
      for (let s = 1; s <= 7; s++) await l.append([exec(s)]);
      await l.whenIdle();
      l.close();
      const segs = listLedgerSegments(dir);
      const next = path.join(dir, ledgerSegmentName(segs.at(-1)! + 1));
      const head = encodeLedgerFrame([
        { k: 'head', v: 1, replica: 1, cluster: CLUSTER, segment: segs.at(-1)! + 1, createdAt: 0, lastSeq: 7, lastCheckpoint: 0 },
      ]);
      writeFileSync(next, leftover === 'empty' ? '' : head.subarray(0, head.length - 5));
      const again = open({ segmentBytes: frame * 3 });
      expect(again.lastSeq, leftover).toBe(7);
      expect(listLedgerSegments(dir), leftover).toEqual(segs);
      await again.append([exec(8)]);
      await again.whenIdle();
      again.close();
      const r = readLedger(dir);
      expect(r.damaged, leftover).toEqual([]);
      expect(execSeqs(r), leftover).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    }
  });

  it('rotates past segmentBytes and deletes the oldest segments beyond maxBytes', async () => {
    const frame = encodeLedgerFrame([exec(1)]).length;
    const l = open({ segmentBytes: frame * 3, maxBytes: frame * 7 });
    for (let s = 1; s <= 20; s++) await l.append([exec(s)]);
    await l.whenIdle();
    const segs = listLedgerSegments(dir);
    expect(segs.length).toBeGreaterThan(1);
    expect(segs[0]).toBeGreaterThan(1); // the oldest ones are gone
    expect(l.deletedSegments).toBe(segs[0]! - 1);
    let total = 0;
    for (const n of segs) total += statSync(path.join(dir, ledgerSegmentName(n))).size;
    expect(total).toBeLessThanOrEqual(frame * 7 + frame); // within the bound (plus the heads)
    l.close();
    const r = readLedger(dir);
    const seqs = execSeqs(r);
    expect(seqs.at(-1)).toBe(20);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => 21 - seqs.length + i)); // contiguous
    // each segment's head says where retention starts
    const head = r.frames[0]!.records[0] as Extract<LedgerRecord, { k: 'head' }>;
    expect(head.lastSeq).toBe(seqs[0]! - 1);
  });

  it('with fsync on, a new segment whose directory cannot be synced fails the write (as in the durable log)', async () => {
    // Before (WAL review, session 8): ignored. A power loss could then take the new segment, and
    // with it executions the durable log had deleted because the ledger held them.
    const frame = encodeLedgerFrame([exec(1)]).length;
    const l = AuditLedger.open(dir, { replica: 1, clusterId: CLUSTER, fsync: true, segmentBytes: frame * 2 });
    await l.append([exec(1)]);
    // segment files are opened O_DSYNC (no fsync call); fs.fsync is the directory's sync
    const eio = Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
    const dirSync = vi.spyOn(fs, 'fsync').mockImplementation(((_fd: number, cb: (e: Error | null) => void) => cb(eio)) as never);
    let failed: unknown = null;
    for (let s = 2; s <= 6 && failed === null; s++) await l.append([exec(s)]).catch((e) => (failed = e));
    expect(dirSync).toHaveBeenCalled();
    expect(failed).toMatchObject({ code: 'LEDGER_IO' });
    expect((failed as Error).message).toMatch(/replica 1: cannot sync the directory of its audit ledger .*EIO/);
    await expect(l.append([exec(9)])).rejects.toMatchObject({ code: 'LEDGER_IO' });
    dirSync.mockRestore();
    // the ledger did not count the failed write; what it wrote before is intact
    expect(l.lastSeq).toBeLessThan(6);
    await l.whenIdle();
    l.close();
    expect(readLedger(dir).damaged).toEqual([]);
  });

  it('refuses further writes after a failed one', async () => {
    const l = open({ segmentBytes: 4096 });
    await l.append([exec(1)]);
    rmSync(dir, { recursive: true, force: true }); // the next segment cannot be created
    const huge: LedgerRecord = { ...exec(2), requests: Array.from({ length: 200 }, (_, i) => ({ client: 'c', timestamp: i, digest: D('f') })) };
    await expect(l.append([huge])).rejects.toMatchObject({ code: 'LEDGER_IO' });
    await expect(l.append([exec(3)])).rejects.toMatchObject({ code: 'LEDGER_IO' });
    expect(l.failure?.message).toMatch(/replica 1: cannot create a segment of its audit ledger/);
    expect(l.lastSeq).toBe(1);
    l.close();
  });
});

describe('ledger feed (what the node records)', () => {
  const cert = [commit(5, 0), commit(5, 1), commit(5, 2)];
  const executed = (seq: number, certificate: Signed<CommitBody>[] | null): ReplicaAction => ({
    type: 'executed',
    view: 0,
    seq,
    digest: D('a'),
    requests: [{ client: 'client0', timestamp: seq, op: '{}', result: '{}', digest: D('e') }],
    certificate,
  });

  it('records executions with their certificates, stable checkpoints, state transfers and its own signed checkpoints', () => {
    const feed = new LedgerFeed(1, 0, 0, []);
    const own = { body: { type: 'checkpoint' as const, seq: 4, digest: D('d'), replica: 1 }, sig: D('5') };
    const out = feed.collect(
      [{ kind: 'checkpoint', seq: 4, digest: D('d'), snapshot: '[]', proof: [own] }],
      [executed(4, cert), { type: 'multicast', msg: own }, { type: 'multicast', msg: { ...own, body: { ...own.body, replica: 2 } } }],
    );
    expect(out.map((r) => r.k)).toEqual(['exec', 'own-checkpoint', 'checkpoint']);
    expect(out[0]).toMatchObject({ seq: 4, cert, src: 'commit', requests: [{ client: 'client0', timestamp: 4, digest: D('e') }] });
    expect(out[2]).toMatchObject({ seq: 4, src: 'stable' });
    const st = feed.collect(
      [{ kind: 'checkpoint', seq: 12, digest: D('f'), snapshot: '[]', proof: [] }],
      [{ type: 'state-installed', seq: 12, digest: D('f'), proof: [] }],
    );
    expect(st).toEqual([{ k: 'checkpoint', seq: 12, digest: D('f'), proof: [], src: 'state-transfer' }]);
  });

  it('after a restart: skips re-executions the ledger holds, takes a missing certificate from the durable log, and records its checkpoint', () => {
    const persisted: PersistRecord[] = [
      { kind: 'checkpoint', seq: 4, digest: D('d'), snapshot: '[]', proof: [] },
      { kind: 'committed', entry: { view: 0, seq: 5, digest: D('a'), batch: [], commits: cert } },
      { kind: 'committed', entry: { view: 0, seq: 6, digest: D('a'), batch: [], commits: cert } },
    ];
    // the ledger got seq 5 but not 6 (a crash between the durable log's write and the ledger's), nor checkpoint 4
    const feed = new LedgerFeed(1, 5, 0, persisted);
    const out = feed.collect([], [executed(5, null), executed(6, null)]);
    expect(out).toEqual([
      { k: 'checkpoint', seq: 4, digest: D('d'), proof: [], src: 'restart' },
      expect.objectContaining({ k: 'exec', seq: 6, cert, src: 'restart' }),
    ]);
  });
});
