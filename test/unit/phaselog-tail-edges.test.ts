/**
 * Edge cases of the phase log's backward reading (linesBackward, tailMerged, and the follow
 * hand-over at PhaseTail.snapshot), from a review of `pbft logs -n` / `-f`: lines around the 64
 * KiB chunk size, every end offset of a small CRLF file, bare CRs (readline splits there too),
 * ISO timestamps and ties between a replica's rotated and current files, a rotation while a
 * current file is read backwards (its records came twice when the rotated path was opened after
 * the read), a record half-written at the follow snapshot (it was printed by neither part), lines
 * at and past the longest record, and a seeded fuzz against mergePhaseLogs.
 */
import { mkdtempSync, rmSync, writeFileSync, renameSync, statSync, createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PhaseTail, linesBackward, mergePhaseLogs, type PhaseFile, type PhaseFilter, tailMerged } from '../../src/phaselog/reader.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rev-tail-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let k = 0;
const file = (text: string | Buffer) => {
  const f = path.join(dir, `f${k++}.jsonl`);
  writeFileSync(f, text);
  return f;
};
async function rl(f: string, end?: number) {
  const out: string[] = [];
  if (end === 0) return out;
  const s = createReadStream(f, { encoding: 'utf8', ...(end !== undefined ? { end: end - 1 } : {}) });
  for await (const l of createInterface({ input: s, crlfDelay: Infinity })) out.push(l);
  return out;
}
async function back(f: string, end?: number) {
  const out: string[] = [];
  for await (const l of linesBackward(f, end !== undefined ? { end } : {})) out.push(l);
  return out.reverse();
}
async function lastOfMerge(files: PhaseFile[], filter: PhaseFilter, n: number, endOffsets?: Map<string, number>) {
  const all = [];
  for await (const r of mergePhaseLogs(files, filter, endOffsets ? { endOffsets } : {})) all.push(r);
  return all.slice(-n);
}
const rec = (ts: number | string, replica: number, pad = 0, extra = '') =>
  `{"ts":${JSON.stringify(ts)},"replica":${replica},"view":0,"phase":"commit","seq":1,"d":"${'x'.repeat(pad)}${extra}"}`;

describe('chunk boundaries', () => {
  const C = 64 * 1024;
  for (const len of [C - 2, C - 1, C, C + 1, 2 * C - 1, 2 * C, 2 * C + 1])
    for (const trailing of ['\n', '', '\n\n'])
      it(`line lengths around ${len} ${JSON.stringify(trailing)}`, async () => {
        const head = rec(1, 0);
        const pad = len - rec(2, 0).length;
        const body = [head, rec(2, 0, Math.max(0, pad)), rec(3, 0, 0, 'é😀'.repeat(20000)), 'x'.repeat(len), rec(4, 0)].join('\n') + trailing;
        const f = file(body);
        expect(await back(f)).toEqual(await rl(f));
      });
});

describe('end offsets: every offset of a small file', () => {
  it('linesBackward and tailMerged agree with readline/merge at every end', async () => {
    const text = `${[rec(1, 0), '', 'garbage', rec(2, 0, 3, 'é'), rec(2, 0), rec('1970-01-01T00:00:00.003Z', 0)].join('\r\n')}\n${rec(4, 0)}`;
    const f = file(text);
    const size = statSync(f).size;
    for (let end = 0; end <= size; end++) {
      expect((await back(f, end)).map((x) => x.replace(/\r$/, ''))).toEqual(await rl(f, end));
      const files = [{ replica: 0, path: f }];
      const ends = new Map([[f, end]]);
      for (const n of [1, 2, 3, 10]) expect(await tailMerged(files, {}, n, { endOffsets: ends })).toEqual(await lastOfMerge(files, {}, n, ends));
    }
  });
});

describe('CRLF and bare CR', () => {
  it('CRLF records', async () => {
    const f = file(`${[rec(1, 0), rec(2, 0), rec(3, 0)].join('\r\n')}\r\n`);
    const files = [{ replica: 0, path: f }];
    expect(await tailMerged(files, {}, 2)).toEqual(await lastOfMerge(files, {}, 2));
  });
  it('bare CR between two records', async () => {
    const f = file(`${rec(1, 0)}\r${rec(2, 0)}\n`);
    const files = [{ replica: 0, path: f }];
    expect(await tailMerged(files, {}, 5)).toEqual(await lastOfMerge(files, {}, 5));
  });
});

describe('ISO ts and ties rotated/current', () => {
  it('ties across rotated and current of one replica and across replicas, ISO strings', async () => {
    const iso = (ms: number) => new Date(ms).toISOString();
    const r0old = file(`${[rec(1, 0), rec(iso(5), 0), rec(5, 0, 1)].join('\n')}\n`);
    const r0cur = file(`${[rec(iso(5), 0, 2), rec(5, 0, 3), rec(6, 0)].join('\n')}\n`);
    const r1old = file(`${[rec(5, 1)].join('\n')}\n`);
    const r1cur = file(`${[rec(iso(5), 1, 4), rec(iso(6), 1)].join('\n')}\n`);
    const files = [
      { replica: 0, path: r0old },
      { replica: 1, path: r1old },
      { replica: 0, path: r0cur },
      { replica: 1, path: r1cur },
    ];
    for (let n = 1; n <= 10; n++) expect(await tailMerged(files, {}, n)).toEqual(await lastOfMerge(files, {}, n));
  });
});

describe('rotation while tailMerged reads', () => {
  it('no duplicates when the writer rotates between reading current and rotated', async () => {
    const cur = path.join(dir, 'rot.jsonl');
    const old = path.join(dir, 'rot.1.jsonl');
    const lines = [rec(1, 0, 0, 'MATCH').replace('"seq":1', '"seq":7')];
    for (let i = 0; i < 200000; i++) lines.push(rec(2 + i, 0, 50));
    writeFileSync(cur, `${lines.join('\n')}\n`);
    writeFileSync(old, `${rec(0, 0)}\n`);
    const files = [
      { replica: 0, path: old },
      { replica: 0, path: cur },
    ];
    const p = tailMerged(files, { seq: 7 }, 10);
    setTimeout(() => {
      renameSync(cur, old);
      writeFileSync(cur, '');
    }, 20);
    const got = await p;
    expect(got.length).toBe(1);
  });
});

describe('follow hand-over', () => {
  it('a record half-written at the snapshot is printed once, by the follower', async () => {
    const f = path.join(dir, 'ho.jsonl');
    const r2 = rec(2, 0);
    writeFileSync(f, `${rec(1, 0)}\n${r2.slice(0, 20)}`);
    const files = [{ replica: 0, path: f }];
    const snap = await PhaseTail.snapshot(files);
    const ends = new Map([...snap].map(([k, v]) => [k, v.offset]));
    const first = await tailMerged(files, {}, 10, { endOffsets: ends });
    writeFileSync(f, `${r2.slice(20)}\n${rec(3, 0)}\n`, { flag: 'a' });
    const rest = await new PhaseTail(snap).poll(files);
    expect([...first, ...rest].map((r) => r.ts)).toEqual([1, 2, 3]);
  });
});

describe('random fuzz vs merge', () => {
  let seed = 99;
  const rnd = (m: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % m;
  };
  it('random files, filters, n, ends', async () => {
    for (let trial = 0; trial < 40; trial++) {
      const files: PhaseFile[] = [];
      const cur: PhaseFile[] = [];
      const R = 1 + rnd(3);
      for (let r = 0; r < R; r++) {
        let ms = rnd(5);
        const mk = (cnt: number) => {
          const out: string[] = [];
          for (let i = 0; i < cnt; i++) {
            ms += rnd(2);
            const t = rnd(30);
            const ts = rnd(2) ? ms : new Date(ms).toISOString();
            if (t === 0) out.push('junk');
            else if (t === 1) out.push('');
            else out.push(rec(ts, r, rnd(4) === 0 ? rnd(70000) : rnd(5), rnd(5) === 0 ? 'é😀' : '').replace('"seq":1', `"seq":${rnd(4)}`));
          }
          const sep = rnd(4) === 0 ? '\r\n' : '\n';
          return out.join(sep) + (rnd(3) ? sep : '');
        };
        files.push({ replica: r, path: file(mk(rnd(40))) });
        cur.push({ replica: r, path: file(mk(rnd(40))) });
      }
      const all = [...files, ...cur];
      const filter: PhaseFilter = [{}, { seq: rnd(4) }, { replicas: new Set([rnd(R)]) }][rnd(3)]!;
      const ends = rnd(2) ? new Map(cur.map((f) => [f.path, rnd(statSync(f.path).size + 1)])) : undefined;
      for (const n of [1, 3, 10, 50]) {
        const a = await tailMerged(all, filter, n, ends ? { endOffsets: ends } : {});
        const b = await lastOfMerge(all, filter, n, ends);
        expect(a, `trial ${trial} n ${n}`).toEqual(b);
      }
    }
  });
});

describe('lines near MAX_LINE_BYTES', () => {
  it('multi-byte records at and past MAX_LINE_CHARS, over-long ASCII', async () => {
    const M = 1 << 20;
    const wrap = (d: string, ts: number) => `{"ts":${ts},"replica":0,"phase":"commit","d":"${d}"}`;
    const base = wrap('', 0).length;
    const fit = wrap('€'.repeat(M - base), 2); // exactly MAX_LINE_CHARS chars, ~3 MiB
    const over = wrap('€'.repeat(M - base + 1), 3);
    const f = file(`${[wrap('', 1), fit, over, 'y'.repeat(3 * M + 5), wrap('😀'.repeat((M - base) >> 1), 4), wrap('', 5)].join('\n')}\n`);
    const files = [{ replica: 0, path: f }];
    for (const n of [1, 2, 3, 4, 10]) expect(await tailMerged(files, {}, n)).toEqual(await lastOfMerge(files, {}, n));
    expect((await tailMerged(files, {}, 10)).map((r) => r.ts)).toEqual([1, 2, 4, 5]);
  });
});
