import fs, { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { compactRecords } from '../../src/core/replica.js';
import type { PersistRecord, SignedPrePrepare } from '../../src/core/types.js';
import {
  DurableLog,
  LEGACY_NOTE,
  crc32,
  crc32js,
  decodeFrame,
  decodeLegacyLine,
  encodeFrame,
  encodeLegacyLine,
  segmentName,
} from '../../src/runtime/storage.js';

let base: string;
let dir: string;
let legacy: string;
beforeEach(() => {
  base = mkdtempSync(path.join(os.tmpdir(), 'pbft-wal-'));
  dir = path.join(base, 'wal');
  legacy = path.join(base, 'wal.jsonl');
});
afterEach(() => {
  vi.restoreAllMocks();
  syncBuiltinESMExports();
  rmSync(base, { recursive: true, force: true });
});

const D = (c: string) => c.repeat(64).slice(0, 64);
const view = (v: number, viewChanging = false): PersistRecord => ({ kind: 'view', view: v, viewChanging });
function committed(seq: number, v = 0): PersistRecord {
  return { kind: 'committed', entry: { view: v, seq, digest: D(String(seq % 10)), batch: [], commits: [] } };
}
function prePrepare(seq: number, v = 0): PersistRecord {
  const msg: SignedPrePrepare = { body: { type: 'pre-prepare', view: v, seq, digest: D('a'), replica: v % 4 }, sig: D('5'), batch: [] };
  return { kind: 'pre-prepare', msg };
}
function checkpoint(seq: number): PersistRecord {
  return { kind: 'checkpoint', seq, digest: D('c'), snapshot: `[${seq}]`, proof: [] };
}
/** a light checkpoint: the proof without the state */
function lightCheckpoint(seq: number): PersistRecord {
  return { kind: 'checkpoint', seq, digest: D('c'), proof: [] };
}
function newView(v: number): PersistRecord {
  return { kind: 'new-view', msg: { body: { type: 'new-view', newView: v, viewChanges: [], prePrepares: [], replica: v % 4 }, sig: D('9') } };
}
const seg = (no: number) => path.join(dir, segmentName(no));
const segs = () => readdirSync(dir).sort();
const open = (o: Parameters<typeof DurableLog.open>[1] = {}) => DurableLog.open(dir, { compact: compactRecords, ...o });
async function reopen(o: Parameters<typeof DurableLog.open>[1] = {}): Promise<PersistRecord[]> {
  const l = open(o);
  const r = l.takeRecords();
  l.close();
  return r;
}
const seqs = (rs: readonly PersistRecord[]) => rs.filter((r) => r.kind === 'committed').map((r) => (r as { entry: { seq: number } }).entry.seq);

describe('DurableLog: segments', () => {
  it('creates the directory and a first segment (mode 0600) and reloads what was appended, in order', async () => {
    const log = open();
    expect(log.takeRecords()).toEqual([]);
    await log.append([view(1), committed(1)]);
    await log.append([committed(2)]);
    await log.append([]);
    log.close();
    expect(segs()).toEqual([segmentName(1)]);
    expect(statSync(seg(1)).mode & 0o777).toBe(0o600);
    expect(readFileSync(seg(1), 'utf8').trim().split('\n')).toHaveLength(2); // one frame per commit
    const again = open();
    expect(again.takeRecords()).toEqual([view(1), committed(1), committed(2)]);
    expect(again.loadReport).toMatchObject({ tornTail: false, lines: 2, records: 3, segments: 1 });
    again.close();
  });

  it('ignores a torn last append (no newline) and cuts it off before appending again', async () => {
    const log = open();
    await log.append([committed(1)]);
    log.close();
    const full = encodeFrame([committed(2)]);
    appendFileSync(seg(1), full.subarray(0, full.length - 20)); // a crash in the middle of a write
    const reopened = open();
    expect(reopened.loadReport.tornTail).toBe(true);
    expect(reopened.takeRecords()).toEqual([committed(1)]);
    await reopened.append([committed(3)]);
    reopened.close();
    expect(await reopen()).toEqual([committed(1), committed(3)]);
  });

  it('treats a complete but corrupt LAST frame as torn (never durable), and zero-filled tails too', async () => {
    const log = open();
    await log.append([committed(1)]);
    log.close();
    const bad = Buffer.from(
      encodeFrame([committed(2)])
        .toString('utf8')
        .replace('"seq":2', '"seq":9'),
    ); // checksum no longer matches
    appendFileSync(seg(1), bad);
    expect(await reopen()).toEqual([committed(1)]);
    appendFileSync(seg(1), Buffer.alloc(100)); // zeros after a crash
    const l = open();
    expect(l.takeRecords()).toEqual([committed(1)]);
    expect(l.loadReport.tornTail).toBe(true);
    l.close();
    expect(statSync(seg(1)).size).toBe(encodeFrame([committed(1)]).length);
  });

  it('refuses to load a segment corrupted before its last frame, with a one-line reason', async () => {
    const log = open({ label: 'replica 2' });
    await log.append([committed(1)]);
    await log.append([committed(2)]);
    await log.append([committed(3)]);
    log.close();
    const lines = readFileSync(seg(1), 'utf8').split('\n');
    lines[1] = lines[1]!.replace('"seq":2', '"seq":7');
    writeFileSync(seg(1), lines.join('\n'));
    expect(() => open({ label: 'replica 2' })).toThrow(
      /^replica 2: durable log .*0001\.log is corrupt at line 2 of 3 \(checksum mismatch\); the replica cannot safely restart/,
    );
    try {
      open();
    } catch (e) {
      expect(e).toMatchObject({ code: 'WAL_CORRUPT' });
      expect((e as Error).message).not.toContain('\n');
    }
  });

  it('starts a new segment at each newer checkpoint, and deletes the segments a stable checkpoint covers', async () => {
    const log = open();
    await log.append([view(0)]);
    for (let s = 1; s <= 6; s++) await log.append([prePrepare(s), committed(s)]);
    await log.append([committed(7), checkpoint(4)]); // the checkpoint arrives while 5..7 are in the log
    await log.whenIdle();
    expect(segs()).toEqual([segmentName(1), segmentName(2)]); // segment 1 still holds 5, 6 (above 4)
    expect(log.rollovers).toBe(1);
    expect(log.stableSeq).toBe(4);
    // the new segment's first frame: the latest view (carried over), then the batch itself
    expect(decodeFrame(readFileSync(seg(2)).subarray(0, -1))).toEqual([view(0), committed(7), checkpoint(4)]);
    for (let s = 8; s <= 10; s++) await log.append([committed(s)]);
    await log.append([checkpoint(4)]); // not newer: no new segment
    expect(log.segmentNumbers).toEqual([1, 2]);
    await log.append([checkpoint(8)]);
    await log.whenIdle();
    expect(segs()).toEqual([segmentName(2), segmentName(3)]); // segment 1 (up to 6) is covered by 8; segment 2 (up to 10) is not
    expect(log.deletedSegments).toBe(1);
    await log.append([checkpoint(12)]);
    await log.whenIdle();
    expect(segs()).toEqual([segmentName(4)]);
    await log.append([committed(13)]);
    log.close();
    // nothing was ever rewritten: segment 4 is the checkpoint frame plus one append
    expect(readFileSync(seg(4), 'utf8').trim().split('\n')).toHaveLength(2);
    const loaded = await reopen();
    expect(compactRecords(loaded)).toEqual([view(0), checkpoint(12), committed(13)]);
  });

  it('a light checkpoint (no snapshot) starts no segment and covers nothing: the records since the full one stay', async () => {
    const log = open();
    await log.append([view(0)]);
    for (let s = 1; s <= 5; s++) await log.append([committed(s)]);
    await log.append([checkpoint(4)]);
    for (let s = 6; s <= 9; s++) await log.append([committed(s)]);
    await log.append([lightCheckpoint(8)]);
    for (let s = 10; s <= 13; s++) await log.append([committed(s)]);
    await log.append([lightCheckpoint(12)]);
    await log.whenIdle();
    expect(log.rollovers).toBe(1);
    expect(log.stableSeq).toBe(4);
    expect(segs()).toEqual([segmentName(1), segmentName(2)]);
    log.close();
    // a restart gets the full checkpoint, everything after it, and the newest light one
    const loaded = compactRecords(await reopen());
    expect(loaded.filter((r) => r.kind === 'checkpoint')).toEqual([checkpoint(4), lightCheckpoint(12)]);
    expect(seqs(loaded)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13]);
    // the next full one starts a segment and the older ones go
    const again = open();
    again.takeRecords();
    await again.append([checkpoint(12)]);
    await again.whenIdle();
    expect(segs()).toEqual([segmentName(2), segmentName(3)]); // 2 still holds 13, above 12
    again.close();
  });

  it('carries the latest view and new-view records into each new segment, so deleting old ones loses neither', async () => {
    const all: PersistRecord[] = [];
    const log = open();
    const put = async (rs: PersistRecord[]) => {
      all.push(...rs);
      await log.append(rs);
    };
    await put([view(1, true)]);
    await put([view(1), newView(1), prePrepare(1, 1), committed(1, 1)]);
    await put([view(2, true)]); // a view change that did not complete: no new-view for 2
    for (let s = 2; s <= 4; s++) await put([committed(s, 1)]);
    await put([checkpoint(4)]);
    await put([checkpoint(8)]);
    await put([checkpoint(12)]);
    await log.whenIdle();
    log.close();
    expect(segs()).toEqual([segmentName(4)]);
    const loaded = await reopen();
    expect(compactRecords(loaded)).toEqual(compactRecords(all));
    expect(compactRecords(loaded)[0]).toEqual(view(2, true));
  });

  it('carries a finished recovery too: a crash that deletes only the segment of its end cannot bring it back', async () => {
    // WAL review (session 8): the end of a recovery was not carried, so a crash between the
    // unlinks of covered segments could leave its start alone, and the replica recovered again.
    const recovery = (done: boolean): PersistRecord => ({ kind: 'recovery', timestamp: 7, nonce: 'ab'.repeat(8), after: done ? 3 : null, done });
    // deferDeletes: covered segments stay until deleteCovered (as with the audit ledger)
    const log = open({ deferDeletes: true });
    await log.append([recovery(false), view(0), committed(1)]); // segment 1: the start
    await log.append([checkpoint(1), committed(2)]); // segment 2
    await log.append([recovery(true), committed(3)]); // segment 2: the end
    await log.append([checkpoint(3), committed(4)]); // segment 3
    await log.whenIdle();
    log.close();
    expect(segs()).toEqual([segmentName(1), segmentName(2), segmentName(3)]);
    expect(readFileSync(seg(3), 'utf8')).toContain('"done":true');
    // the crash: the unlink of segment 2 (the end) completed, that of segment 1 (the start) did not
    rmSync(seg(2));
    const loaded = await reopen();
    expect(compactRecords(loaded).some((r) => r.kind === 'recovery')).toBe(false); // finished: nothing to resume
  });

  it('a non-last segment must be whole: corruption or a partial line there refuses to load', async () => {
    const log = open();
    await log.append([committed(1), committed(2)]);
    await log.append([committed(3), checkpoint(1)]); // segment 1 still holds 2
    await log.append([committed(4)]);
    log.close();
    expect(segs()).toEqual([segmentName(1), segmentName(2)]);
    const s1 = readFileSync(seg(1));
    writeFileSync(seg(1), Buffer.from(s1.toString('utf8').replace('"seq":1', '"seq":5')));
    expect(() => open({ label: 'replica 1' })).toThrow(/replica 1: durable log .*0001\.log is corrupt at line 1 of 1 \(checksum mismatch\)/);
    writeFileSync(seg(1), s1.subarray(0, s1.length - 3)); // torn, but not at the end of the log
    expect(() => open()).toThrow(/0001\.log is corrupt at line 1 of 1 \(a partial line at the end of a segment that is not the last one\)/);
    writeFileSync(seg(1), s1);
    expect(seqs(await reopen())).toEqual([1, 2, 3, 4]);
  });

  it('a new segment whose first frame was torn (a crash while starting it) is dropped; the previous one goes on', async () => {
    const log = open();
    await log.append([view(3), committed(1)]);
    log.close();
    const frame = encodeFrame([view(3), checkpoint(1)]);
    writeFileSync(seg(2), frame.subarray(0, 10), { mode: 0o600 });
    const l = open();
    expect(l.loadReport.tornTail).toBe(true);
    expect(l.segmentNumbers).toEqual([1]);
    expect(l.takeRecords()).toEqual([view(3), committed(1)]);
    expect(segs()).toEqual([segmentName(1)]);
    await l.append([committed(2)]);
    await l.append([checkpoint(2)]); // numbering goes on from the last segment
    await l.whenIdle();
    l.close();
    expect(segs()).toEqual([segmentName(2)]);
  });

  it('removes, on open, covered segments whose unlink a crash lost', async () => {
    const log = open();
    await log.append([committed(1)]);
    const s1 = readFileSync(seg(1));
    await log.append([checkpoint(1)]);
    await log.whenIdle();
    log.close();
    expect(segs()).toEqual([segmentName(2)]);
    writeFileSync(seg(1), s1, { mode: 0o600 });
    const l = open();
    expect(l.loadReport.staleSegmentsDeleted).toBe(1);
    expect(compactRecords(l.takeRecords())).toEqual([checkpoint(1)]);
    l.close();
    expect(segs()).toEqual([segmentName(2)]);
  });

  it('one commit at a time: a second one while the first is in flight is a driver bug', async () => {
    const log = open();
    const first = new Promise<unknown>((resolve) => log.commit([committed(1)], resolve));
    expect(log.inFlight).toBe(true);
    expect(() => log.commit([committed(2)], () => undefined)).toThrow(/while a commit is in flight \(driver bug\)/);
    expect(await first).toBe(null);
    expect(log.inFlight).toBe(false);
    await log.append([committed(2)]);
    log.close();
    expect(seqs(await reopen())).toEqual([1, 2]);
  });

  it('restart recovery: what loads folds to exactly what was committed, whatever the batches and checkpoints', async () => {
    // records of a plausible run: increasing seqs, a checkpoint every 4, views now and then;
    // split into random batches; the log is reopened at random points and at the end.
    const op = fc.oneof(
      { arbitrary: fc.constant<'seq'>('seq'), weight: 6 },
      { arbitrary: fc.constant<'checkpoint'>('checkpoint'), weight: 2 },
      { arbitrary: fc.constant<'light'>('light'), weight: 2 },
      { arbitrary: fc.constant<'view'>('view'), weight: 1 },
      { arbitrary: fc.constant<'reopen'>('reopen'), weight: 1 },
      { arbitrary: fc.constant<'cut'>('cut'), weight: 2 },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 60 }), async (ops) => {
        rmSync(dir, { recursive: true, force: true });
        const all: PersistRecord[] = [];
        let batch: PersistRecord[] = [];
        let log = open();
        let seq = 0;
        let v = 0;
        let cp = 0;
        const flush = async () => {
          if (batch.length === 0) return;
          all.push(...batch);
          await log.append(batch);
          batch = [];
        };
        for (const o of ops) {
          if (o === 'seq') {
            seq++;
            batch.push(prePrepare(seq, v), committed(seq, v));
          } else if (o === 'checkpoint' || o === 'light') {
            if (seq - 2 > cp) {
              cp = Math.max(cp + 1, seq - 2);
              batch.push(o === 'checkpoint' ? checkpoint(cp) : lightCheckpoint(cp));
            }
          } else if (o === 'view') {
            v++;
            batch.push(view(v, true), view(v), newView(v));
          } else if (o === 'cut') await flush();
          else {
            await flush();
            await log.whenIdle();
            log.close();
            log = open();
            expect(compactRecords(log.takeRecords())).toEqual(compactRecords(all));
          }
        }
        await flush();
        await log.whenIdle();
        log.close();
        expect(compactRecords(await reopen())).toEqual(compactRecords(all));
        // and segments do not pile up: at most the one holding the stable checkpoint, the one
        // before it (entries above the checkpoint), and the first (before any checkpoint)
        expect(segs().length).toBeLessThanOrEqual(3);
      }),
      { numRuns: 60 },
    );
  });

  it('"fsync": false means no fsync of any kind: no fsync/fdatasync call, no O_SYNC/O_DSYNC open', async () => {
    const calls: string[] = [];
    const syncFlags = (fs.constants.O_SYNC ?? 0) | (fs.constants.O_DSYNC ?? 0);
    for (const name of ['fsync', 'fsyncSync', 'fdatasync', 'fdatasyncSync'] as const) {
      const orig = fs[name] as (...a: unknown[]) => unknown;
      vi.spyOn(fs, name).mockImplementation(((...a: unknown[]) => {
        calls.push(name);
        return orig(...a);
      }) as never);
    }
    for (const name of ['open', 'openSync'] as const) {
      const orig = fs[name] as (...a: unknown[]) => unknown;
      vi.spyOn(fs, name).mockImplementation(((...a: unknown[]) => {
        if (typeof a[1] === 'number' && (a[1] & syncFlags) !== 0) calls.push(`${name} with a sync flag`);
        if (typeof a[1] === 'string' && a[1].includes('s')) calls.push(`${name} ${a[1]}`);
        return orig(...a);
      }) as never);
    }
    syncBuiltinESMExports();
    writeFileSync(legacy, encodeLegacyLine([view(0), committed(1)])); // the conversion too
    const log = open({ fsync: false, legacyFile: legacy });
    expect(log.loadReport.migrated).toMatchObject({ records: 2 });
    for (let s = 2; s <= 9; s++) await log.append(s % 4 === 0 ? [committed(s), checkpoint(s - 1)] : [committed(s)]);
    await log.whenIdle();
    log.close();
    const again = open({ fsync: false, legacyFile: legacy });
    again.close();
    expect(calls).toEqual([]);
    // and with fsync on, every commit is synced: O_DSYNC segments (or fdatasync where there is none)
    const on = open({ fsync: true });
    await on.append([committed(10)]);
    await on.append([checkpoint(9)]);
    await on.whenIdle();
    on.close();
    expect(calls.length).toBeGreaterThan(0);
  });
});

describe('DurableLog: full checkpoints stored as JSON', () => {
  it('a snapshot is stored unescaped and read back as the same value; one holding a newline is stored as a string', async () => {
    const plain = '{"clients":[["c",1,"{\\"ok\\":true}"]],"appJson":[["k","v"]]}';
    const spaced = JSON.stringify(JSON.parse(plain), null, 1); // the same JSON, with newlines
    const log = open();
    await log.append([{ kind: 'checkpoint', seq: 8, digest: D('c'), snapshot: plain, proof: [] }]);
    await log.append([committed(9)]);
    const text = () =>
      segs()
        .map((f) => readFileSync(path.join(dir, f), 'utf8'))
        .join('');
    expect(text()).toContain('"state":{"clients"');
    await log.append([{ kind: 'checkpoint', seq: 16, digest: D('d'), snapshot: spaced, proof: [] }]);
    await log.append([committed(17)]);
    log.close();
    // every frame is one line that decodes: the spaced snapshot went in as a string
    for (const line of text().split('\n').filter(Boolean)) expect(Array.isArray(decodeFrame(Buffer.from(line)))).toBe(true);
    const back = (await reopen()).filter((r) => r.kind === 'checkpoint') as Extract<PersistRecord, { kind: 'checkpoint' }>[];
    expect(back.map((r) => r.seq)).toEqual([16]); // the newer full one replaced the older
    expect(JSON.parse(back[0]!.snapshot!)).toEqual(JSON.parse(plain));
    expect(seqs(await reopen())).toEqual([17]);
  });
});

describe('DurableLog: the single-file format of older versions', () => {
  it('is converted on open: same records, segment 1, and the old file becomes a note', async () => {
    writeFileSync(legacy, encodeLegacyLine([view(2), committed(1)]) + encodeLegacyLine([committed(2), checkpoint(1)]) + encodeLegacyLine([committed(3)]));
    const log = open({ legacyFile: legacy });
    expect(log.loadReport.migrated).toMatchObject({ from: legacy, records: 5, tornTail: false });
    expect(compactRecords(log.takeRecords())).toEqual([view(2), checkpoint(1), committed(2), committed(3)]);
    await log.append([committed(4)]);
    log.close();
    expect(segs()).toEqual([segmentName(1)]);
    expect(readFileSync(legacy, 'utf8')).toBe(LEGACY_NOTE);
    // an older pbft reads the note as a corrupt log (a bad line that is not the last): it refuses to start
    const noteLines = LEGACY_NOTE.split('\n');
    expect(noteLines.length).toBe(3);
    expect(noteLines[2]).toBe('');
    expect(typeof decodeLegacyLine(noteLines[0]!)).toBe('string');
    // the next open ignores the note
    const again = open({ legacyFile: legacy });
    expect(again.loadReport.migrated).toBeUndefined();
    expect(seqs(compactRecords(again.takeRecords()))).toEqual([2, 3, 4]);
    again.close();
  });

  it('a torn last line is ignored; corruption before it refuses to load, naming the old file', async () => {
    const full = encodeLegacyLine([committed(2)]);
    writeFileSync(legacy, encodeLegacyLine([committed(1)]) + full.slice(0, 30));
    const l = open({ legacyFile: legacy, label: 'replica 3' });
    expect(l.loadReport.migrated).toMatchObject({ records: 1, tornTail: true });
    l.close();
    rmSync(dir, { recursive: true });
    writeFileSync(legacy, '{"c":"garbage"}\n{"c":"more"}\n');
    expect(() => open({ legacyFile: legacy, label: 'replica 3' })).toThrow(/^replica 3: durable log .*wal\.jsonl is corrupt at line 1 of 2 \(not a log line\)/);
    expect(existsSync(dir) ? segs() : []).toEqual([]);
  });

  it('an interrupted conversion (segment written, old file not yet replaced) completes; a different one refuses', async () => {
    writeFileSync(legacy, encodeLegacyLine([view(1), committed(1)]));
    mkdirSync(dir, { recursive: true });
    writeFileSync(seg(1), encodeFrame(compactRecords([view(1), committed(1)])));
    const l = open({ legacyFile: legacy });
    expect(l.takeRecords()).toEqual([view(1), committed(1)]);
    l.close();
    expect(readFileSync(legacy, 'utf8')).toBe(LEGACY_NOTE);
    writeFileSync(legacy, encodeLegacyLine([view(1), committed(1), committed(2)]));
    expect(() => open({ legacyFile: legacy })).toThrow(/both an old-format durable log .*wal\.jsonl and segment files in .*wal exist, and they differ/);
    // a conflict, not damage: the node stops instead of moving the logs aside (recovery is for WAL_CORRUPT)
    expect(() => open({ legacyFile: legacy })).toThrow(expect.objectContaining({ code: 'WAL_CONFLICT' }));
    expect(readFileSync(legacy, 'utf8')).toContain('"committed"');
    expect(existsSync(seg(1))).toBe(true);
  });
});

describe('frame codec and checksum', () => {
  it('round trip, and a string for anything that is not a valid frame', () => {
    const recs = [view(3), committed(1)];
    const f = encodeFrame(recs);
    expect(f[f.length - 1]).toBe(0x0a);
    expect(decodeFrame(f.subarray(0, -1))).toEqual(recs);
    expect(decodeFrame(Buffer.from(''))).toBe('not a log frame');
    expect(decodeFrame(Buffer.from('zzzzzzzz []'))).toBe('not a log frame');
    expect(decodeFrame(Buffer.from('00000000 []'))).toBe('checksum mismatch');
    const nonJson = Buffer.from('00000000 [x');
    nonJson.write(crc32(nonJson.subarray(9)).toString(16).padStart(8, '0'), 0, 'latin1');
    expect(decodeFrame(nonJson)).toBe('invalid JSON');
    expect(decodeFrame(encodeFrame([{ kind: 'weird' } as unknown as PersistRecord]).subarray(0, -1))).toBe('unknown record');
    // non-ASCII text survives (the checksum is over UTF-8 bytes)
    const snap: PersistRecord = { kind: 'checkpoint', seq: 1, digest: D('1'), snapshot: 'é ✓ \n', proof: [] };
    expect(decodeFrame(encodeFrame([snap]).subarray(0, -1))).toEqual([snap]);
  });

  it('CRC-32: the JavaScript fallback gives the same values as zlib', () => {
    expect(crc32js(Buffer.from('123456789'))).toBe(0xcbf43926); // the standard check value
    for (const n of [0, 1, 7, 8, 9, 63, 1000]) {
      const b = Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + n) & 0xff));
      expect(crc32js(b)).toBe(crc32(b));
      const native = (zlib as unknown as { crc32?: (b: Uint8Array) => number }).crc32;
      if (native) expect(crc32js(b)).toBe(native(b) >>> 0);
    }
  });
});
