import { describe, expect, it } from 'vitest';
import { runBench, percentile, summarize, Samples, type BenchClient } from '../../src/cluster/bench.js';
import { parseReplicaIds } from '../../src/cluster/ids.js';
import { EXIT, exitCodeFor, oneLine } from '../../src/cluster/errors.js';
import { describeOutcome, parseRequestArgs, type RequestOutcome } from '../../src/cluster/request.js';
import { formatDropped } from '../../src/cluster/status.js';
import { describeForUser } from '../../src/cli/base.js';
import { program } from '../../src/cluster/hints.js';
import { PbftError } from '../../src/errors.js';
import { parseKvOp, encodeKvOp } from '../../src/app/kv.js';

describe('bench statistics', () => {
  it('nearest-rank percentiles', () => {
    const a = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(a, 50)).toBe(50);
    expect(percentile(a, 90)).toBe(90);
    expect(percentile(a, 99)).toBe(99);
    expect(percentile(a, 100)).toBe(100);
    expect(percentile([7], 1)).toBe(7);
    expect(Number.isNaN(percentile([], 50))).toBe(true);
    expect(() => percentile(a, 0)).toThrow(RangeError);
  });
  it('summarize sorts and reports min/max/mean', () => {
    const s = summarize([5, 1, 3]);
    expect(s).toMatchObject({ count: 3, minMs: 1, maxMs: 5, p50Ms: 3, meanMs: 3 });
    expect(summarize([]).count).toBe(0);
  });
  it('Samples grows', () => {
    const s = new Samples();
    for (let i = 0; i < 5000; i++) s.push(i);
    expect(s.length).toBe(5000);
    expect(s.values()[4999]).toBe(4999);
  });
});

describe('runBench (closed loop, injected clients)', () => {
  it('keeps one request per client in flight, counts completions and errors by code, closes every client', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let closed = 0;
    const ops: string[] = [];
    let calls = 0;
    const make = async (): Promise<BenchClient> => {
      let mine = 0;
      return {
        async request(op) {
          inFlight++;
          mine++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          if (mine > 1) throw new Error('two requests from one client');
          ops.push(op);
          const call = ++calls; // this call's own index: the shared counter moves while we wait
          await new Promise((r) => setTimeout(r, 1));
          inFlight--;
          mine--;
          if (call % 10 === 0) throw new PbftError('NO_QUORUM', 'simulated');
          return {};
        },
        close() {
          closed++;
        },
      };
    };
    const progress: number[] = [];
    const res = await runBench({
      clients: 3,
      durationMs: 200,
      valueSize: 8,
      requestTimeoutMs: 1000,
      makeClient: make,
      onProgress: (p) => progress.push(p.completed),
      progressIntervalMs: 50,
    });
    expect(closed).toBe(3);
    expect(maxInFlight).toBeLessThanOrEqual(3);
    expect(res.completed + res.errors).toBe(calls);
    expect(res.errors).toBe(Math.floor(calls / 10));
    expect(res.errorsByCode).toEqual(res.errors ? { NO_QUORUM: res.errors } : {});
    expect(res.latency.count).toBe(res.completed);
    expect(res.throughput).toBeGreaterThan(0);
    expect(progress.length).toBeGreaterThan(0);
    const op = parseKvOp(ops[0]!);
    expect(op).toMatchObject({ op: 'put' });
    expect((op as { value: string }).value).toHaveLength(8);
  });

  it('stops on abort, and closes clients even when one fails to connect', async () => {
    let closed = 0;
    await expect(
      runBench({
        clients: 3,
        durationMs: 1000,
        valueSize: 0,
        requestTimeoutMs: 100,
        makeClient: async (i) => {
          if (i === 1) throw new PbftError('UNREACHABLE', 'down');
          return { request: async () => ({}), close: () => void closed++ };
        },
      }),
    ).rejects.toThrow('down');
    expect(closed).toBe(2);

    const ac = new AbortController();
    const res = runBench({
      clients: 1,
      durationMs: 60_000,
      valueSize: 1,
      requestTimeoutMs: 100,
      signal: ac.signal,
      makeClient: async () => ({
        request: (_op, o) =>
          new Promise((resolve, reject) => {
            const t = setTimeout(resolve, 5);
            o.signal?.addEventListener('abort', () => {
              clearTimeout(t);
              reject(new Error('aborted'));
            });
          }),
        close: () => undefined,
      }),
    });
    setTimeout(() => ac.abort(), 30);
    const r = await res;
    expect(r.aborted).toBe(true);
    expect(r.errors).toBe(0);
  });

  it('validates its options', async () => {
    const make = async () => ({ request: async () => ({}), close: () => undefined });
    await expect(runBench({ clients: 0, durationMs: 10, valueSize: 1, requestTimeoutMs: 1, makeClient: make })).rejects.toThrow(RangeError);
    await expect(runBench({ clients: 1, durationMs: 10, valueSize: -1, requestTimeoutMs: 1, makeClient: make })).rejects.toThrow(RangeError);
  });
});

describe('parseReplicaIds', () => {
  it('parses lists, commas and ranges; empty means all', () => {
    expect(parseReplicaIds([], 4)).toEqual([0, 1, 2, 3]);
    expect(parseReplicaIds(['2', '0'], 4)).toEqual([0, 2]);
    expect(parseReplicaIds(['0,2', '2'], 4)).toEqual([0, 2]);
    expect(parseReplicaIds(['1-3'], 4)).toEqual([1, 2, 3]);
  });
  it('rejects unknown and malformed ids with a usage error', () => {
    expect(() => parseReplicaIds(['4'], 4)).toThrow(/unknown replica id 4: this cluster has replicas 0..3/);
    expect(() => parseReplicaIds(['x'], 4)).toThrow(/"x" is not a replica id/);
    expect(() => parseReplicaIds(['-1'], 4)).toThrow(/not a replica id/);
    expect(() => parseReplicaIds(['3-1'], 4)).toThrow(/range/);
    try {
      parseReplicaIds(['9'], 4);
    } catch (e) {
      expect(exitCodeFor((e as PbftError).code)).toBe(EXIT.usage);
    }
  });
});

describe('errors', () => {
  it('one line: what is wrong, then how to fix it', () => {
    expect(oneLine('port 7000 is taken', 'use --base-port')).toBe('Error: port 7000 is taken. Use --base-port.');
    expect(oneLine('Error: a\nb.')).toBe('Error: a b.');
  });
  it('maps codes to exit codes', () => {
    expect(exitCodeFor('NO_QUORUM')).toBe(EXIT.noQuorum);
    expect(exitCodeFor('CONFIG_INVALID')).toBe(EXIT.config);
    expect(exitCodeFor('KEY_MISSING')).toBe(EXIT.config);
    expect(exitCodeFor('BAD_ARGUMENT')).toBe(EXIT.usage);
    expect(exitCodeFor('PORT_IN_USE')).toBe(EXIT.process);
    expect(exitCodeFor('CLUSTER_DOWN')).toBe(EXIT.down);
    expect(exitCodeFor(undefined)).toBe(EXIT.internal);
  });
  it('describeForUser: PbftError keeps its code, oclif-wrapped flag errors are unwrapped, bugs are internal', () => {
    expect(describeForUser(new PbftError('NO_QUORUM', 'no quorum'))).toMatchObject({ code: 'NO_QUORUM', exitCode: EXIT.noQuorum });
    const wrapped = new PbftError('BAD_ARGUMENT', 'x');
    wrapped.message = 'Parsing --replicas \n\t--replicas must be an integer\nSee more help with --help';
    expect(describeForUser(wrapped, 'init')).toMatchObject({
      message: '--replicas must be an integer',
      exitCode: EXIT.usage,
      hint: `run \`${program()} init --help\` for usage`,
    });
    expect(describeForUser(new TypeError('boom'))).toMatchObject({ code: 'INTERNAL', exitCode: EXIT.internal });
  });
});

describe('request arguments', () => {
  it('builds KV operations', () => {
    expect(parseRequestArgs(['put', 'k', 'v'])).toEqual({ op: 'put', key: 'k', value: 'v' });
    expect(parseRequestArgs(['get', 'k'])).toEqual({ op: 'get', key: 'k' });
    expect(parseRequestArgs(['del', 'k', undefined])).toEqual({ op: 'del', key: 'k' });
    expect(parseRequestArgs(['put', 'k', ''])).toEqual({ op: 'put', key: 'k', value: '' });
    expect(parseKvOp(encodeKvOp(parseRequestArgs(['put', 'k', 'v'])))).toEqual({ op: 'put', key: 'k', value: 'v' });
  });
  it.each([
    [[], /no operation/],
    [['post', 'k'], /unknown operation "post"/],
    [['put'], /needs a KEY/],
    [['put', 'k'], /put needs a KEY and a VALUE/],
    [['put', 'k', 'v', 'w'], /one VALUE/],
    [['get', 'k', 'v'], /only a KEY/],
    [['get', 'x'.repeat(300)], /more than 256/],
  ])('rejects %j', (words, msg) => {
    expect(() => parseRequestArgs(words as string[])).toThrow(msg);
  });
  it('describes outcomes', () => {
    const base = { ok: true, raw: '', replicas: [0, 1], view: 0, latencyMs: 1, client: 'c', timestamp: 1, sentAtMs: 0, doneAtMs: 1 };
    expect(describeOutcome({ ...base, op: { op: 'put', key: 'a', value: 'b' }, result: null } as RequestOutcome)).toBe('put a = "b"  (previous value: none)');
    expect(describeOutcome({ ...base, op: { op: 'get', key: 'a' }, result: 'b' } as RequestOutcome)).toBe('a = "b"');
    expect(describeOutcome({ ...base, op: { op: 'get', key: 'a' }, result: null } as RequestOutcome)).toBe('a is not set');
  });
});

describe('status formatting', () => {
  it('formats dropped counts, most frequent first', () => {
    expect(formatDropped({})).toBe('0');
    expect(formatDropped({ stale: 1, duplicate: 5, malformed: 2, x: 1, y: 1 })).toBe('duplicate:5 malformed:2 stale:1 +2');
  });
});
