/** The diagram model shared by the server and the page: arrows from phase records, simulator traces, observed throughput and latency. */
import { describe, expect, it } from 'vitest';
import { buildDiagram, CLIENT_LANE, parseSimPhase, parseSimTrace, simRecords, timelineOf, violationEntry, type DiagramRecord } from '../../src/web/model.js';
import { simTraceFile } from '../../src/sim/tracefile.js';
import { simulate } from '../../src/sim/simulator.js';
import { TrafficStats } from '../../src/web/stats.js';

const rec = (ts: number, replica: number, phase: string, extra: Partial<DiagramRecord> = {}): DiagramRecord => ({ ts, replica, view: 0, phase, ...extra });

describe('pbft web model', () => {
  it('joins sends to receipts, and requests and replies to the client lane', () => {
    const k = { client: 'client0', timestamp: 7 };
    const d = buildDiagram([
      rec(0, CLIENT_LANE, 'request', k),
      rec(2, 0, 'request', k),
      rec(3, 0, 'pre-prepare', { seq: 1 }),
      rec(5, 1, 'pre-prepare', { seq: 1, peer: 0 }),
      rec(6, 1, 'prepare', { seq: 1 }),
      rec(8, 2, 'prepare', { seq: 1, peer: 1 }),
      rec(9, 2, 'prepare', { seq: 1, peer: 3 }), // its sender's record is not there: no arrow
      rec(10, 1, 'reply', { ...k, seq: 1 }),
      rec(11, 2, 'reply', { ...k, seq: 1 }),
      rec(12, CLIENT_LANE, 'reply', { ...k, peer: 1 }),
      rec(13, 1, 'view-change', { view: 1 }),
      rec(14, 2, 'view-change', { view: 1, peer: 1 }),
    ]);
    const summary = d.arrows.map((a) => `${a.phase} ${a.from}->${a.to} ${a.t0}-${a.t1}${a.approx ? ' approx' : ''}`);
    expect(summary).toEqual([
      'request -1->0 0-2',
      'pre-prepare 0->1 3-5',
      'prepare 1->2 6-8',
      'reply 1->-1 10-12',
      'reply 2->-1 11-11 approx',
      'view-change 1->2 13-14',
    ]);
    expect(d.marks.map((m) => m.phase)).toEqual(['view-change']);
  });

  it('never draws an arrow backwards in time: a send recorded after its receipt is drawn at the receipt', () => {
    const d = buildDiagram([rec(5, 1, 'commit', { seq: 1, peer: 2 }), rec(7, 2, 'commit', { seq: 1 })]);
    expect(d.arrows.map((a) => `${a.phase} ${a.from}->${a.to} ${a.t0}-${a.t1}`)).toEqual(['commit 2->1 5-5']);
  });

  it('reads a simulator trace into the same records, and finds where a failing seed broke', () => {
    expect(parseSimPhase('prepare v=2 s=5 d=abcd1234 peer=3')).toEqual({ phase: 'prepare', view: 2, seq: 5, digest: 'abcd1234', peer: 3 });
    expect(parseSimPhase('reply v=0 s=1 d=ab c1/3 result x')).toMatchObject({ phase: 'reply', client: 'c1', timestamp: 3, detail: 'result x' });
    const r = simulate({ seed: 0, n: 4, adversary: 'fuzz', bugs: ['execute-out-of-order'], fullTrace: true, alwaysTrace: true });
    expect(r.ok).toBe(false);
    const t = parseSimTrace(JSON.parse(JSON.stringify(simTraceFile(r))));
    expect(t.entries.length).toBe(r.fullTrace!.length);
    const recs = simRecords(t);
    const d = buildDiagram(recs);
    expect(d.arrows.filter((a) => a.phase === 'pre-prepare').length).toBeGreaterThan(0);
    expect(d.arrows.filter((a) => a.from === CLIENT_LANE).some((a) => !a.approx)).toBe(true);
    const bad = violationEntry(t)!;
    expect(t.entries[bad]!.t).toBeLessThanOrEqual(t.violations[0]!.timeMs!);
    // a fault-free run: a request's timeline holds its protocol records, and its replies reach the client lane
    const okRecs = simRecords(simTraceFile(simulate({ seed: 1, n: 4, faults: false, fullTrace: true, alwaysTrace: true })));
    const req = okRecs.find((x) => x.replica !== CLIENT_LANE && x.phase === 'reply')!;
    const line = timelineOf(okRecs, req.client!, req.timestamp!);
    expect(new Set(line.map((x) => x.phase))).toEqual(
      new Set(['request', 'pre-prepare', 'prepare', 'prepared', 'commit', 'committed', 'execute', 'reply', 'result']),
    );
    expect(buildDiagram(okRecs).arrows.some((a) => a.phase === 'reply' && !a.approx)).toBe(true);
    expect(() => parseSimTrace({ format: 'other' })).toThrow(/not a simulator trace/);
    expect(() => parseSimTrace({ ...t, n: 0 })).toThrow(/"n"/);
    expect(() => parseSimTrace({ ...t, entries: [{ t: 'x' }] })).toThrow(/entry 0/);
  });

  it('counts a request completed at the (f+1)th reply, with its latency from the first request record', () => {
    const s = new TrafficStats(1);
    const k = { client: 'b', timestamp: 1 };
    s.add(rec(1000, 0, 'request', k));
    s.add(rec(1010, 1, 'request', k));
    s.add(rec(1030, 0, 'reply', k));
    s.add(rec(1042, 1, 'reply', k));
    s.add(rec(1050, 2, 'reply', k));
    const snap = s.snapshot(2500);
    expect(snap.completed).toBe(1);
    expect(snap.throughput.at(-2)).toEqual([1000, 1]);
    expect(snap.latency).toMatchObject({ n: 1, p50: 42, p99: 42 });
    expect(snap.latency.counts[snap.latency.edges.indexOf(50)]).toBe(1);
  });
});
