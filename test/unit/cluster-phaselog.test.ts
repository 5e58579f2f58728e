import { appendFile, mkdir, mkdtemp, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  PhaseTail,
  discoverPhaseFiles,
  followPhaseLogs,
  mergePhaseLogs,
  offsetAtTime,
  parsePhaseLine,
  readMerged,
  type PhaseFile,
  type PhaseRecord,
} from '../../src/phaselog/index.js';
import { collectTrace, formatTrace } from '../../src/cluster/trace.js';
import { colourEnabled, formatRecord, palette, table } from '../../src/cluster/format.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pbft-phaselog-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const line = (r: Partial<PhaseRecord> & { ts: number; replica: number; phase: string }) => JSON.stringify({ view: 0, ...r });

async function writeReplica(id: number, recs: string[]): Promise<PhaseFile> {
  const d = join(dir, 'replicas', String(id));
  await mkdir(d, { recursive: true });
  const path = join(d, 'phases.jsonl');
  await writeFile(path, recs.map((r) => `${r}\n`).join(''));
  return { replica: id, path };
}

describe('parsePhaseLine', () => {
  it('accepts records with numeric or ISO timestamps and keeps extra fields', () => {
    expect(parsePhaseLine(line({ ts: 5, replica: 1, phase: 'commit', seq: 3 }))).toMatchObject({ ts: 5, replica: 1, seq: 3 });
    expect(parsePhaseLine('{"ts":"2024-01-01T00:00:00.000Z","replica":0,"phase":"x","extra":[1]}')).toMatchObject({ extra: [1], view: 0 });
  });
  it.each([
    ['', 'empty'],
    ['not json', 'garbage'],
    ['[1,2]', 'array'],
    ['{"ts":1,"phase":"x"}', 'no replica'],
    ['{"ts":1,"replica":-1,"phase":"x"}', 'negative replica'],
    ['{"ts":"yesterday","replica":0,"phase":"x"}', 'bad date'],
    ['{"replica":0,"phase":"x"}', 'no ts'],
    ['{"ts":1,"replica":0,"phase":3}', 'phase not a string'],
    ['{"ts":1,"replica":0,"phase":"x","seq":1.5}', 'fractional seq'],
  ])('rejects %s (%s)', (text) => {
    expect(parsePhaseLine(text)).toBeNull();
  });
});

describe('mergePhaseLogs', () => {
  it('merges files in time order, breaking ties by replica id, and skips bad lines', async () => {
    const a = await writeReplica(0, [line({ ts: 10, replica: 0, phase: 'a' }), 'garbage', line({ ts: 30, replica: 0, phase: 'c' })]);
    const b = await writeReplica(1, [
      line({ ts: 10, replica: 1, phase: 'a' }),
      line({ ts: 20, replica: 1, phase: 'b' }),
      line({ ts: 40, replica: 1, phase: 'd' }),
    ]);
    const stats = { skipped: 0 };
    const out: PhaseRecord[] = [];
    for await (const r of mergePhaseLogs([b, a], {}, { stats })) out.push(r);
    expect(out.map((r) => `${r.ts}/${r.replica}`)).toEqual(['10/0', '10/1', '20/1', '30/0', '40/1']);
    expect(stats.skipped).toBe(1);
  });

  it('filters by replica, phase, seq and view', async () => {
    const a = await writeReplica(0, [
      line({ ts: 1, replica: 0, phase: 'prepare', seq: 1 }),
      line({ ts: 2, replica: 0, phase: 'commit', seq: 1 }),
      line({ ts: 3, replica: 0, phase: 'commit', seq: 2, view: 1 }),
    ]);
    const b = await writeReplica(1, [line({ ts: 1, replica: 1, phase: 'commit', seq: 1 })]);
    expect((await readMerged([a, b], { phases: new Set(['commit']), seq: 1 })).map((r) => r.replica)).toEqual([1, 0]);
    expect((await readMerged([a, b], { replicas: new Set([1]) })).length).toBe(1);
    expect((await readMerged([a, b], { view: 1 })).map((r) => r.seq)).toEqual([2]);
  });

  it('ignores missing files and honours end offsets', async () => {
    const a = await writeReplica(0, [line({ ts: 1, replica: 0, phase: 'a' }), line({ ts: 2, replica: 0, phase: 'b' })]);
    const firstLen = Buffer.byteLength(`${line({ ts: 1, replica: 0, phase: 'a' })}\n`);
    const missing = { replica: 5, path: join(dir, 'replicas', '5', 'phases.jsonl') };
    const out: PhaseRecord[] = [];
    for await (const r of mergePhaseLogs([a, missing], {}, { endOffsets: new Map([[a.path, firstLen]]) })) out.push(r);
    expect(out.map((r) => r.phase)).toEqual(['a']);
  });

  it('discovers numeric replica directories only', async () => {
    await writeReplica(2, []);
    await writeReplica(10, []);
    await mkdir(join(dir, 'replicas', 'notes'), { recursive: true });
    expect((await discoverPhaseFiles(dir)).map((f) => f.replica)).toEqual([2, 10]);
    expect(await discoverPhaseFiles(join(dir, 'nope'))).toEqual([]);
  });
});

describe('offsetAtTime', () => {
  it('finds a line start before the first record at or after a time, by binary search', async () => {
    const recs = Array.from({ length: 20_000 }, (_, i) => line({ ts: 1000 + Math.floor(i / 3), replica: 0, phase: 'p', seq: i }));
    recs.splice(5000, 0, 'garbage line');
    const f = await writeReplica(0, recs);
    for (const t of [0, 1000, 2500, 4000, 7665, 7666, 99_999]) {
      const off = await offsetAtTime(f.path, t);
      const fromOffset: PhaseRecord[] = [];
      for await (const r of mergePhaseLogs([f], { sinceMs: t }, { startOffsets: new Map([[f.path, off]]) })) fromOffset.push(r);
      const all = await readMerged([f], { sinceMs: t });
      expect(fromOffset.map((r) => r.seq)).toEqual(all.map((r) => r.seq));
      if (t >= 4000 && t < 7666) expect(off).toBeGreaterThan(0); // it did skip
    }
    expect(await offsetAtTime(join(dir, 'missing'), 5)).toBe(0);
    const empty = await writeReplica(1, []);
    expect(await offsetAtTime(empty.path, 5)).toBe(0);
  });
});

describe('PhaseTail', () => {
  it('returns appended complete lines, holds partial ones, copes with truncation, replacement and late files', async () => {
    const a = await writeReplica(0, [line({ ts: 1, replica: 0, phase: 'old' })]);
    const late: PhaseFile = { replica: 1, path: join(dir, 'replicas', '1', 'phases.jsonl') };
    const tail = new PhaseTail(await PhaseTail.snapshot([a, late]));
    expect(await tail.poll([a, late])).toEqual([]);

    const full = line({ ts: 2, replica: 0, phase: 'new' });
    await appendFile(a.path, full.slice(0, 10));
    expect(await tail.poll([a, late])).toEqual([]);
    await appendFile(a.path, `${full.slice(10)}\n`);
    expect((await tail.poll([a, late])).map((r) => r.phase)).toEqual(['new']);

    // a replica whose log appears later
    await writeReplica(1, [line({ ts: 3, replica: 1, phase: 'late' })]);
    expect((await tail.poll([a, late])).map((r) => r.phase)).toEqual(['late']);

    // truncated, then rewritten shorter
    await truncate(a.path, 0);
    await appendFile(a.path, `${line({ ts: 4, replica: 0, phase: 'after-truncate' })}\n`);
    expect((await tail.poll([a, late])).map((r) => r.phase)).toEqual(['after-truncate']);

    // rotated: the file is replaced by a new one (another inode)
    await rename(a.path, a.path.replace('.jsonl', '.1.jsonl'));
    await writeFile(a.path, `${line({ ts: 5, replica: 0, phase: 'rotated' })}\n`);
    expect((await tail.poll([a, late])).map((r) => r.phase)).toEqual(['rotated']);
  });

  it('orders one poll across files by time', async () => {
    const a = await writeReplica(0, []);
    const b = await writeReplica(1, []);
    const tail = new PhaseTail(await PhaseTail.snapshot([a, b]));
    await appendFile(a.path, `${line({ ts: 20, replica: 0, phase: 'x' })}\n`);
    await appendFile(b.path, `${line({ ts: 10, replica: 1, phase: 'y' })}\n`);
    expect((await tail.poll([a, b])).map((r) => r.ts)).toEqual([10, 20]);
  });
});

describe('followPhaseLogs', () => {
  it('delivers new matching records until aborted', async () => {
    const a = await writeReplica(0, [line({ ts: 1, replica: 0, phase: 'before' })]);
    const ac = new AbortController();
    const got: PhaseRecord[] = [];
    let wanted!: () => void;
    const twoSeen = new Promise<void>((r) => (wanted = r));
    const following = followPhaseLogs({
      files: async () => [a],
      watchDirs: async () => [join(dir, 'replicas', '0')],
      startOffsets: await PhaseTail.snapshot([a]),
      filter: { phases: new Set(['keep']) },
      signal: ac.signal,
      pollMs: 50,
      onRecord: (r) => {
        got.push(r);
        if (got.length === 2) wanted();
      },
    });
    await appendFile(a.path, `${line({ ts: 2, replica: 0, phase: 'keep' })}\n${line({ ts: 3, replica: 0, phase: 'skip' })}\n`);
    await appendFile(a.path, `${line({ ts: 4, replica: 0, phase: 'keep' })}\n`);
    await twoSeen;
    ac.abort();
    await following;
    expect(got.map((r) => r.ts)).toEqual([2, 4]);
  });
});

describe('trace', () => {
  it('collects the records of one request and the protocol records of its sequence number', async () => {
    const key = { client: 'client0', timestamp: 77 };
    const r0 = await writeReplica(0, [
      line({ ts: 1, replica: 0, phase: 'request', client: 'client0', timestamp: 77 }),
      line({ ts: 2, replica: 0, phase: 'pre-prepare', seq: 5 }),
      line({ ts: 3, replica: 0, phase: 'commit', seq: 4 }), // another request's
      line({ ts: 4, replica: 0, phase: 'commit', seq: 5 }),
      line({ ts: 5, replica: 0, phase: 'reply', seq: 5, client: 'client0', timestamp: 77 }),
      line({ ts: 5, replica: 0, phase: 'execute', seq: 5 }),
      line({ ts: 6, replica: 0, phase: 'reply', seq: 5, client: 'other', timestamp: 1 }), // batched neighbour
    ]);
    const r1 = await writeReplica(1, [line({ ts: 3, replica: 1, phase: 'prepare', seq: 5 }), line({ ts: 4, replica: 1, phase: 'checkpoint', seq: 5 })]);
    const t = await collectTrace([r0, r1], key);
    expect(t.seqs).toEqual([5]);
    expect(t.executedBy).toEqual([0]);
    expect(t.records.map((r) => `${r.replica}:${r.phase}`)).toEqual(['0:request', '0:pre-prepare', '1:prepare', '0:commit', '0:reply', '0:execute']);
    const text = formatTrace(t, palette(false), { sentAtMs: 0, doneAtMs: 6, replicas: [0, 1], view: 0 });
    expect(text).toContain('seq 5');
    expect(text).toContain('pre-prepare');
    expect(text).not.toContain('\x1b[');
  });
});

describe('format', () => {
  it('respects NO_COLOR and FORCE_COLOR', () => {
    expect(colourEnabled({ NO_COLOR: '1' }, true)).toBe(false);
    expect(colourEnabled({ NO_COLOR: '1', FORCE_COLOR: '1' }, true)).toBe(false);
    expect(colourEnabled({}, true)).toBe(true);
    expect(colourEnabled({}, false)).toBe(false);
    expect(colourEnabled({ FORCE_COLOR: '1' }, false)).toBe(true);
  });
  it('colours per replica and phase only when enabled', () => {
    const rec = parsePhaseLine(line({ ts: Date.now(), replica: 2, phase: 'commit', seq: 9, digest: 'ab'.repeat(32), peer: 1 }))!;
    const plain = formatRecord(rec, palette(false));
    expect(plain).toMatch(/r2 +v0 +#9 +commit +d=abababab peer=r1/);
    const coloured = formatRecord(rec, palette(true));
    expect(coloured).toContain('\x1b[');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes
    expect(coloured.replace(/\x1b\[[0-9;]*m/g, '')).toBe(plain);
  });
  it('aligns tables ignoring colour codes', () => {
    const t = table(
      ['a', 'bb'],
      [
        ['\x1b[31mxyz\x1b[0m', '1'],
        ['q', '22'],
      ],
      ['l', 'r'],
    );
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes
    expect(t.replace(/\x1b\[[0-9;]*m/g, '').split('\n')).toEqual(['a    bb', 'xyz   1', 'q    22']);
  });
});
