/**
 * pbft chaos, the parts that need no cluster: the nemesis schedule, the history and its checks
 * (with doctored histories, so that each check is seen to fail), the timeline picture, and the
 * runner's pure pieces. The e2e test (test/e2e/chaos.test.ts) runs it all on real processes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KvOp } from '../../src/app/kv.js';
import { checkLinearizable, checkLostWrites, checkSameState, checkerHistory } from '../../src/chaos/check.js';
import { formatChaosReport } from '../../src/chaos/format.js';
import { HistoryRecorder, countHistory, timeSeries, type HistoryEntry } from '../../src/chaos/history.js';
import { KeySlots, Workload, certainlyNotSent, faultRequests, nemesisActions, runVerify, verdictOf } from '../../src/chaos/run.js';
import {
  NEMESIS_DESCRIPTIONS,
  NEMESIS_KINDS,
  checkSchedule,
  generateSchedule,
  maxDownAtOnce,
  parseNemesisList,
  type NemesisKind,
  type Schedule,
  type ScheduleOptions,
} from '../../src/chaos/schedule.js';
import { KIND_COLOURS, escapeXml, renderTimelineSvg } from '../../src/chaos/timeline.js';
import { palette } from '../../src/cluster/format.js';
import { PbftError } from '../../src/errors.js';

const base: ScheduleOptions = { n: 4, f: 1, seed: 1, durationMs: 60_000, kinds: NEMESIS_KINDS, periodMs: 3000, overlap: 2 };

describe('chaos: the nemesis schedule', () => {
  it('is reproducible: the same seed and options give the same schedule; another seed another one', () => {
    const a = generateSchedule(base);
    expect(generateSchedule({ ...base })).toEqual(a);
    expect(a.faults.length).toBeGreaterThan(10);
    const b = generateSchedule({ ...base, seed: 2 });
    expect(b.faults).not.toEqual(a.faults);
  });

  it('keeps its rules for any seed and options: period, overlap, one fault per replica, at most f Byzantine, all within the load', () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          n: fc.constantFrom(4, 5, 7, 10),
          periodMs: fc.integer({ min: 200, max: 10_000 }),
          durationMs: fc.integer({ min: 1000, max: 300_000 }),
          overlap: fc.integer({ min: 1, max: 4 }),
          kinds: fc.subarray([...NEMESIS_KINDS], { minLength: 1 }),
        }),
        (o) => {
          const f = Math.floor((o.n - 1) / 3);
          const s = generateSchedule({ ...o, f, overlap: Math.min(o.overlap, o.n) });
          expect(checkSchedule(s)).toEqual([]);
          expect(s.byzantine.length).toBeLessThanOrEqual(f);
          for (const x of s.faults) {
            expect(o.kinds).toContain(x.spec.kind);
            expect(x.endMs).toBeLessThanOrEqual(o.durationMs);
            if (x.spec.kind === 'byzantine') expect(s.byzantine).toContain(x.spec.replicas[0]);
          }
          if (s.overlap === 1) {
            const sorted = [...s.faults].sort((a, b) => a.startMs - b.startMs);
            for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.startMs).toBeGreaterThanOrEqual(sorted[i - 1]!.endMs);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('plays periods with more than f replicas down when overlap allows it, and none with overlap 1 and single-replica faults', () => {
    const wide = [1, 2, 3, 4, 5].map((seed) => maxDownAtOnce(generateSchedule({ ...base, seed, kinds: ['crash', 'pause', 'partition'], overlap: 3 })));
    expect(Math.max(...wide)).toBeGreaterThan(1);
    for (let seed = 0; seed < 20; seed++) expect(maxDownAtOnce(generateSchedule({ ...base, seed, kinds: ['crash', 'pause', 'restart'], overlap: 1 }))).toBe(1);
  });

  it('never makes more than f replicas Byzantine, even with every fault Byzantine and a large overlap', () => {
    for (const n of [4, 7]) {
      const f = Math.floor((n - 1) / 3);
      const s = generateSchedule({ ...base, n, f, kinds: ['byzantine'], overlap: n, periodMs: 500 });
      expect(s.byzantine.length).toBe(f);
      expect(new Set(s.faults.map((x) => x.spec.replicas[0])).size).toBeLessThanOrEqual(f);
      expect(checkSchedule(s)).toEqual([]);
    }
    // a given Byzantine set is kept
    expect(generateSchedule({ ...base, kinds: ['byzantine'], byzantine: [3] }).faults.every((x) => x.spec.replicas[0] === 3)).toBe(true);
    expect(() => generateSchedule({ ...base, byzantine: [1, 2] })).toThrow(/at most f = 1/);
    // without byzantine in the nemesis, no replica is Byzantine, and the rest of the schedule is the same
    const crashOnly = generateSchedule({ ...base, kinds: ['crash'] });
    expect(crashOnly.byzantine).toEqual([]);
    expect(crashOnly.faults.map((x) => x.startMs)).toEqual(generateSchedule({ ...base, kinds: ['crash', 'byzantine'] }).faults.map((x) => x.startMs));
  });

  it('checkSchedule finds a doctored schedule: two Byzantine replicas at once, two faults on one replica, too many at once', () => {
    const s: Schedule = {
      ...generateSchedule({ ...base, kinds: ['byzantine', 'crash'] }),
      byzantine: [0, 1],
      faults: [
        { id: 0, startMs: 0, endMs: 5000, spec: { kind: 'byzantine', replicas: [0], strategy: 'equivocate' } },
        { id: 1, startMs: 3000, endMs: 8000, spec: { kind: 'byzantine', replicas: [1], strategy: 'silent' } },
        { id: 2, startMs: 6000, endMs: 9000, spec: { kind: 'crash', replicas: [1] } },
        { id: 3, startMs: 9000, endMs: 10_000, spec: { kind: 'crash', replicas: [2] } },
      ],
    };
    const p = checkSchedule(s).join('\n');
    expect(p).toMatch(/2 Byzantine replicas, more than f = 1/);
    expect(p).toMatch(/2 Byzantine replicas at 3000 ms/);
    expect(p).toMatch(/replica 1 carries two faults at 6000 ms/);
    expect(checkSchedule({ ...s, byzantine: [0], overlap: 1, faults: s.faults.slice(2) })).toEqual([]);
  });

  it('parses the nemesis list', () => {
    expect(parseNemesisList('all')).toEqual([...NEMESIS_KINDS]);
    expect(parseNemesisList('none')).toEqual([]);
    expect(parseNemesisList(' crash, pause,crash ')).toEqual(['crash', 'pause']);
    expect(() => parseNemesisList('crash,explode')).toThrow(/unknown nemesis "explode"/);
    expect(() => parseNemesisList(',')).toThrow(/empty/);
    expect(() => generateSchedule({ ...base, periodMs: 10 })).toThrow(RangeError);
    expect(() => generateSchedule({ ...base, overlap: 5 })).toThrow(RangeError);
  });

  it('is played in time order, a heal before an apply at the same time; each kind maps to fault-library calls', () => {
    const s = generateSchedule({ ...base, overlap: 1 });
    const acts = nemesisActions(s);
    expect(acts).toHaveLength(2 * s.faults.length);
    for (let i = 1; i < acts.length; i++) expect(acts[i]!.atMs).toBeGreaterThanOrEqual(acts[i - 1]!.atMs);
    const tie = nemesisActions({
      ...s,
      faults: [
        { id: 0, startMs: 0, endMs: 100, spec: { kind: 'pause', replicas: [0] } },
        { id: 1, startMs: 100, endMs: 200, spec: { kind: 'pause', replicas: [0] } },
      ],
    });
    expect(tie.map((a) => `${a.what}${a.fault.id}`)).toEqual(['apply0', 'heal0', 'apply1', 'heal1']);
    expect(faultRequests({ kind: 'crash', replicas: [2] })).toEqual({ apply: [{ target: 2, action: 'crash' }], heal: [{ target: 2, action: 'restart' }] });
    expect(faultRequests({ kind: 'restart', replicas: [1] }).apply).toBe('stop');
    expect(faultRequests({ kind: 'partition', replicas: [0, 1], from: [2, 3] })).toEqual({
      apply: [
        { target: 0, action: 'partition', from: [2, 3] },
        { target: 1, action: 'partition', from: [2, 3] },
      ],
      heal: [
        { target: 0, action: 'heal', from: [2, 3] },
        { target: 1, action: 'heal', from: [2, 3] },
      ],
    });
    expect(faultRequests({ kind: 'clients', replicas: [3], link: 'partition' }).apply).toEqual([{ target: 3, action: 'partition', from: [], clients: true }]);
    expect(faultRequests({ kind: 'clients', replicas: [3], link: 'drop', rate: 0.5 }).apply).toEqual([
      { target: 3, action: 'drop', rate: 0.5, link: 'clients' },
    ]);
    expect(faultRequests({ kind: 'byzantine', replicas: [1], strategy: 'fuzz' })).toEqual({
      apply: [{ target: 1, action: 'byzantine', strategy: 'fuzz' }],
      heal: [{ target: 1, action: 'clear' }],
    });
  });
});

describe('chaos: the workload', () => {
  it('is seeded, writes values no other put writes, and retires a key after opsPerKey operations', () => {
    const ops = (seed: number) => {
      const slots = new KeySlots('p', 3, 10);
      const w = [new Workload(seed, 0, slots), new Workload(seed, 1, slots)];
      return Array.from({ length: 200 }, (_, i) => w[i % 2]!.next());
    };
    const a = ops(5);
    expect(ops(5)).toEqual(a);
    expect(ops(6)).not.toEqual(a);
    const puts = a.filter((o): o is Extract<KvOp, { op: 'put' }> => o.op === 'put').map((o) => o.value);
    expect(new Set(puts).size).toBe(puts.length);
    const perKey = new Map<string, number>();
    for (const o of a) perKey.set(o.key, (perKey.get(o.key) ?? 0) + 1);
    expect(Math.max(...perKey.values())).toBeLessThanOrEqual(10);
    expect(perKey.size).toBeGreaterThanOrEqual(20);
    const kinds = new Set(a.map((o) => o.op));
    expect(kinds).toEqual(new Set(['put', 'get', 'del']));
  });

  it('counts only what was certainly not sent as failed; a timeout or an abort is indeterminate', () => {
    expect(certainlyNotSent(new PbftError('BAD_ARGUMENT', 'too big'))).toBe(true);
    expect(certainlyNotSent(new PbftError('NO_QUORUM', 'x', { details: { outcome: 'not-sent' } }))).toBe(true);
    expect(certainlyNotSent(new PbftError('NO_QUORUM', 'x', { details: { outcome: 'unknown' } }))).toBe(false);
    expect(certainlyNotSent(new PbftError('ABORTED', 'client closed'))).toBe(false);
    expect(certainlyNotSent(new Error('anything'))).toBe(false);
  });
});

/** A history built by hand: ops are [process, op, invoke, complete | null (info), returned value]. */
function build(spec: [number, KvOp, number, number | null, (string | null)?][]): HistoryEntry[] {
  let t = 0;
  const rec = new HistoryRecorder(() => t);
  const events: { at: number; kind: 'invoke' | 'complete'; i: number }[] = [];
  spec.forEach(([, , inv, done], i) => {
    events.push({ at: inv, kind: 'invoke', i });
    if (done !== null) events.push({ at: done, kind: 'complete', i });
  });
  events.sort((a, b) => a.at - b.at || (a.kind === b.kind ? a.i - b.i : a.kind === 'invoke' ? -1 : 1));
  const entries = new Map<number, HistoryEntry>();
  for (const e of events) {
    t = e.at;
    const [p, op, , , value] = spec[e.i]!;
    if (e.kind === 'invoke') entries.set(e.i, rec.invoke(p, `c${p}`, op));
    else rec.complete(entries.get(e.i)!, 'ok', { result: { ok: true, value: value ?? null } });
  }
  t = 1e9;
  rec.closeOpen();
  return rec.entries;
}
const put = (key: string, value: string): KvOp => ({ op: 'put', key, value });
const get = (key: string): KvOp => ({ op: 'get', key });
const del = (key: string): KvOp => ({ op: 'del', key });

describe('chaos: the history and its checks', () => {
  it('records the exact order of events and closes what is left open as indeterminate', () => {
    let t = 0;
    const r = new HistoryRecorder(() => t);
    const a = r.invoke(0, 'c0', put('k', 'a'));
    t = 5;
    const b = r.invoke(1, 'c1', get('k'));
    r.complete(a, 'ok', { result: { ok: true, value: null } });
    r.complete(b, 'fail', { error: { code: 'BAD_ARGUMENT', message: 'x' } });
    r.invoke(2, 'c2', del('k'));
    r.closeOpen();
    expect(r.entries.map((e) => [e.type, e.invokeOrder, e.completeOrder])).toEqual([
      ['ok', 0, 2],
      ['fail', 1, 3],
      ['info', 4, 5],
    ]);
    expect(r.entries[2]!.error?.code).toBe('IN_FLIGHT');
    expect(countHistory(r.entries)).toMatchObject({ invoked: 3, ok: 1, fail: 1, info: 1, byOp: { put: { ok: 1 }, get: { fail: 1 }, del: { info: 1 } } });
  });

  it('passes a linearizable history with indeterminate operations', () => {
    const h = build([
      [0, put('k', 'a'), 0, 10, null],
      [1, put('k', 'b'), 5, null], // timed out, but took effect: read below
      [2, get('k'), 20, 30, 'b'],
      [0, put('k', 'c'), 40, null], // timed out, never seen
      [1, del('k'), 50, null], // timed out, never seen (no null read after it)
      [2, get('k'), 60, 70, 'b'],
    ]);
    const r = checkLinearizable(h);
    expect(r).toMatchObject({ status: 'pass', dropped: 2, bounded: 1 });
    // the indeterminate put that was read must take effect before that read completed
    const bounded = checkerHistory(h).ops.find((o) => o.op.op === 'put' && o.op.value === 'b')!;
    expect(bounded.completeOrder).toBeLessThan(h[2]!.completeOrder!);
    expect(bounded.result).toBeUndefined();
  });

  it('fails a doctored history: a stale read after an acknowledged write', () => {
    const h = build([
      [0, put('k', 'a'), 0, 10, null],
      [1, get('k'), 20, 30, null],
    ]);
    const r = checkLinearizable(h);
    expect(r.status).toBe('fail');
    expect(r.key).toBe('k');
    expect(r.message).toContain('no linearization');
  });

  it('fails a read of a value from the future: an indeterminate put read before it was invoked', () => {
    const h = build([
      [2, get('k'), 0, 10, 'late'],
      [0, put('k', 'late'), 20, null],
    ]);
    expect(checkLinearizable(h).status).toBe('fail');
  });

  it('keeps an indeterminate del that may explain a read of absent, and drops a failed operation', () => {
    const h = build([
      [0, put('k', 'a'), 0, 10, null],
      [1, del('k'), 20, null],
      [2, get('k'), 30, 40, null],
    ]);
    expect(checkLinearizable(h)).toMatchObject({ status: 'pass', dropped: 0 });
    // without the del, the read of absent is a violation
    const failedDel = h.map((e) => (e.op.op === 'del' ? { ...e, type: 'fail' as const } : e));
    expect(checkLinearizable(failedDel).status).toBe('fail');
  });

  it('finds no lost write when the value read back may come from the last writes', () => {
    const h = build([
      [0, put('k', 'a'), 0, 10, null],
      [1, put('k', 'b'), 5, 15, 'a'], // concurrent with a: either may be last... b returned a, so b is last
      [0, put('j', 'x'), 0, 10, null],
      [1, put('j', 'y'), 20, null], // indeterminate: may or may not have happened
      [2, del('m'), 0, null],
    ]);
    const reads = new Map<string, string | null>([
      ['k', 'b'],
      ['j', 'x'],
      ['m', null],
    ]);
    expect(checkLostWrites(h, reads)).toMatchObject({ status: 'pass', keys: 3, ackedWrites: 3, lost: [] });
    expect(checkLostWrites(h, new Map([...reads, ['j', 'y']])).status).toBe('pass');
  });

  it('finds a lost acknowledged write: the value read back is older than an acknowledged write after it', () => {
    const h = build([
      [0, put('k', 'a'), 0, 10, null],
      [1, put('k', 'b'), 20, 30, 'a'],
      [2, del('j'), 0, 5, null],
      [2, put('j', 'z'), 10, 15, null],
    ]);
    const r = checkLostWrites(
      h,
      new Map([
        ['k', 'a'],
        ['j', null],
      ]),
    );
    expect(r.status).toBe('fail');
    expect(r.lost.map((l) => l.key)).toEqual(['j', 'k']);
    expect(r.lost[1]!.message).toMatch(/read "a" after the run, but the acknowledged write #\d+ put "b" came later \(the value read was written by #0/);
    // a key never read back cannot be judged
    expect(checkLostWrites(h, new Map([['k', 'b']])).status).toBe('unknown');
    // a value nobody wrote is lost too
    expect(checkLostWrites(h, new Map([['k', 'zzz']])).lost[0]!.message).toMatch(/no write in the history wrote that value/);
  });

  it('finds correct replicas with different states, and lets a Byzantine one differ', () => {
    const s = (id: number, d: string, e = 10) => ({ id, reachable: true, lastExecuted: e, stateDigest: d, view: 1 });
    expect(checkSameState([s(0, 'aa'), s(1, 'aa'), s(2, 'aa'), s(3, 'aa')], [3]).status).toBe('pass');
    const byz = checkSameState([s(0, 'aa'), s(1, 'aa'), s(2, 'aa'), s(3, 'bb')], [3]);
    expect(byz.status).toBe('pass');
    expect(byz.message).toMatch(/r3 \(Byzantine in this run\) differs/);
    const bad = checkSameState([s(0, 'aa'), s(1, 'bb'), s(2, 'aa'), s(3, 'aa')], [3]);
    expect(bad.status).toBe('fail');
    expect(bad.message).toMatch(/correct replicas differ/);
    expect(checkSameState([s(0, 'aa'), { id: 1, reachable: false, lastExecuted: null, stateDigest: null, view: null }, s(2, 'aa')], []).status).toBe('fail');
  });

  it('buckets throughput and latency by second', () => {
    const h = build([
      [0, put('k', 'a'), 0, 100, null],
      [1, get('k'), 200, 500, 'a'],
      [2, get('k'), 1200, 1300, 'a'],
      [0, put('k', 'b'), 1500, null],
    ]);
    const s = timeSeries(h, 2500);
    expect(s.bucketMs).toBe(1000);
    expect(s.buckets).toHaveLength(3);
    expect(s.buckets[0]).toMatchObject({ ok: 2, info: 0, p50Ms: 100, maxMs: 300 });
    expect(s.buckets[1]).toMatchObject({ ok: 1, p50Ms: 100 });
    expect(s.buckets[2]).toMatchObject({ ok: 0, info: 1, p50Ms: null }); // closed at the end (clamped to the last bucket)
    expect(timeSeries([], 3_600_000).bucketMs).toBe(12_000);
  });
});

describe('chaos: the timeline picture', () => {
  const input = (faults: Parameters<typeof renderTimelineSvg>[0]['faults']) => ({
    title: 'pbft chaos <test> & "quotes"',
    subtitle: ['seed 1'],
    n: 4,
    byzantine: [2],
    endMs: 30_000,
    faults,
    phases: [{ name: 'heal', startMs: 20_000, endMs: 22_000 }],
    series: timeSeries(
      build([
        [0, put('k', 'a'), 0, 100, null],
        [1, get('k'), 1000, 1400, 'a'],
      ]),
      30_000,
    ),
  });

  it('is one self-contained SVG: a band per replica a fault occupies, charts, escaped text, nothing fetched', () => {
    const svg = renderTimelineSvg(
      input([
        { kind: 'crash', replicas: [1], label: 'crash r1', startMs: 1000, endMs: 4000, applied: true },
        { kind: 'partition', replicas: [0, 3], label: 'partition r0,r3 | r1,r2', startMs: 5000, endMs: 9000, applied: true },
        { kind: 'byzantine', replicas: [2], label: 'byzantine r2 <equivocate>', startMs: 10_000, endMs: 12_000, applied: false },
      ]),
    );
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).not.toMatch(/<script|href=|@import|url\((?!#)/);
    expect(svg.match(/<title>crash r1:/g)).toHaveLength(1);
    expect(svg.match(/<title>partition r0,r3 \| r1,r2:/g)).toHaveLength(2);
    expect(svg).toContain('url(#hatch)'); // the fault that could not be applied
    expect(svg).toContain('&lt;equivocate&gt;');
    expect(svg).toContain('pbft chaos &lt;test&gt; &amp; &quot;quotes&quot;');
    expect(svg).toContain('r2 (byz)');
    expect(svg).toContain('<polyline'); // latency line
    expect(svg).toMatch(/<title>0\.0 s: 1 ok/); // a throughput bar
    expect(escapeXml(`<a href='x'>&`)).toBe('&lt;a href=&apos;x&apos;&gt;&amp;');
  });
});

describe('chaos: the audit (injected) and the verdict', () => {
  it('runs the injected verifier on the cluster directory; without one, says it is not available', async () => {
    const calls: string[] = [];
    const ac = new AbortController();
    expect(await runVerify(undefined, '/c')).toEqual({ status: 'skipped', message: 'not available (no audit in this build)' });
    expect(
      await runVerify(
        async (o) => {
          calls.push(o.dir);
          expect(o.signal).toBe(ac.signal);
          return { ok: true };
        },
        '/c',
        ac.signal,
      ),
    ).toMatchObject({ status: 'pass' });
    expect(calls).toEqual(['/c']);
    expect(await runVerify(async () => ({ ok: false }), '/c')).toMatchObject({ status: 'fail' });
    expect(await runVerify(async () => Promise.reject(new Error('no ledger')), '/c')).toMatchObject({ status: 'unknown', message: /no ledger/ });
  });

  it("hands the verifier the run's Byzantine replicas and sums up its report: pass, violation, incomplete (unknown)", async () => {
    const seen: number[][] = [];
    const check = (name: string, status: string, problems: string[] = []) => ({ name, status, summary: '', problems, more: 0, expected: [], expectedMore: 0 });
    const passing = ['ledgers', 'agreement', 'certified', 'checkpoints', 'state'].map((n) => check(n, 'pass'));
    const stats = { sequenceNumbers: 9, executions: 36, certificates: 40, signaturesVerified: 130, ledgerBytes: 1, ms: 1 };
    const ev = (kind: string) => ({ replica: 1, kind, seq: 3, detail: '' }) as const;
    const ok = await runVerify(
      async (o) => {
        seen.push(o.byzantine);
        return { ok: true, outcome: 'ok', checks: passing, stats, expectedEvidence: [ev('equivocation'), ev('equivocation'), ev('state-mismatch')] } as never;
      },
      '/c',
      undefined,
      [1],
    );
    expect(seen).toEqual([[1]]);
    expect(ok).toEqual({
      status: 'pass',
      message: '5 checks hold, 40 certificates and 130 signatures verified; evidence against Byzantine replica r1 (expected): 2 equivocation, 1 state-mismatch',
    });
    expect(
      (await runVerify(async () => ({ ok: true, outcome: 'ok', checks: passing, stats, expectedEvidence: [] }) as never, '/c', undefined, [1])).message,
    ).toMatch(/; no evidence against Byzantine replica r1 in the records$/);
    expect((await runVerify(async () => ({ ok: true, outcome: 'ok', checks: passing, stats }) as never, '/c')).message).toBe(
      '5 checks hold, 40 certificates and 130 signatures verified',
    );

    const bad = await runVerify(
      async () =>
        ({ ok: false, outcome: 'violation', checks: [check('agreement', 'fail', ['seq 2: different batches executed']), ...passing], accused: [2] }) as never,
      '/c',
      undefined,
      [1],
    );
    expect(bad.status).toBe('fail');
    expect(bad.message).toMatch(
      /^the audit found a violation \(agreement failed\), evidence against replica 2: seq 2: different batches executed; see .*verify --faulty 1/,
    );

    const incomplete = await runVerify(
      async () => ({ ok: false, outcome: 'incomplete', checks: [check('state', 'incomplete', ['replica 3: running but not answering']), ...passing] }) as never,
      '/c',
    );
    expect(incomplete.status).toBe('unknown');
    expect(incomplete.message).toMatch(/^the audit could not check everything \(state\): replica 3: running but not answering; see /);
    expect(
      verdictOf({ linearizable: 'pass', verify: incomplete.status, lostWrites: 0, lostWritesStatus: 'pass', sameState: 'pass', converged: true }).verdict,
    ).toBe('inconclusive');
  });

  it('fails a run on any anomaly or without convergence, is inconclusive when a check cannot decide, and passes with the audit not available', () => {
    const ok = { linearizable: 'pass', verify: 'skipped', lostWrites: 0, lostWritesStatus: 'pass', sameState: 'pass', converged: true } as const;
    expect(verdictOf(ok)).toEqual({ verdict: 'pass', anomalies: 0 });
    expect(verdictOf({ ...ok, verify: 'fail' })).toEqual({ verdict: 'fail', anomalies: 1 });
    expect(verdictOf({ ...ok, linearizable: 'fail', lostWrites: 2, lostWritesStatus: 'fail' })).toEqual({ verdict: 'fail', anomalies: 3 });
    expect(verdictOf({ ...ok, converged: false })).toEqual({ verdict: 'fail', anomalies: 0 });
    expect(verdictOf({ ...ok, linearizable: 'unknown' })).toEqual({ verdict: 'inconclusive', anomalies: 0 });
  });
});

describe('chaos: the terminal report', () => {
  it('shows each check and the verdict', () => {
    const r = {
      ok: false,
      verdict: 'fail',
      anomalies: 1,
      wallMs: 1000,
      seed: 3,
      f: 1,
      byzantine: [1],
      files: { report: '/x/report.json', history: '/x/history.json', timeline: '/x/timeline.svg' },
      ops: countHistory([]),
      faults: { applied: 2, planned: 3, errors: 1, byKind: { crash: 2 }, maxDownAtOnce: 2, played: [] },
      heal: { ms: 10, errors: [] },
      convergence: { ok: true, boundMs: 60_000, message: 'converged' },
      checks: {
        linearizable: { status: 'fail', message: 'key "k": no linearization\nline two' },
        verify: { status: 'skipped', message: 'not available' },
        lostWrites: { status: 'pass', message: 'fine' },
        sameState: { status: 'pass', message: 'same' },
      },
      warnings: ['careful'],
    } as unknown as Parameters<typeof formatChaosReport>[0];
    const out = formatChaosReport(r, palette(false), '/x');
    expect(out).toMatch(/linearizable FAIL {4}key "k": no linearization/);
    expect(out).toMatch(/verify {7}skipped not available/);
    expect(out).toContain('  line two');
    expect(out).toContain('warning: careful');
    expect(out).toContain('files        report.json, history.json, timeline.svg');
    expect(out).toMatch(/FAIL: 1 anomaly/);
    expect(out).toMatch(/up to 2 replicas down or cut off at once \(f = 1\)/);
  });
});

// keep the kinds list honest: every kind has a colour and a description
it('chaos: every nemesis kind has a colour and a description', () => {
  for (const k of NEMESIS_KINDS as readonly NemesisKind[]) {
    expect(KIND_COLOURS[k]).toMatch(/^#/);
    expect(NEMESIS_DESCRIPTIONS[k].length).toBeGreaterThan(10);
  }
});
