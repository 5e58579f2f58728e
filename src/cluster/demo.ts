/**
 * `pbft demo`: an unattended tour on a throwaway cluster. Set-up (temporary directory, free
 * ports, init, up) and tear-down (down, remove the directory) always run, whatever happens in
 * between; the middle is a list of acts, so more can be added (issue 4: crash the primary,
 * corrupt a replica's state).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KvOp } from '../app/kv.js';
import { quorums } from '../core/quorum.js';
import { PbftClient } from '../runtime/client.js';
import type { LoadedCluster } from '../runtime/config.js';
import { initCluster } from '../runtime/init.js';
import { PbftError, abortError } from '../errors.js';
import { formatMs, type Palette } from './format.js';
import { downCluster, upCluster, upFailure } from './lifecycle.js';
import { discoverPhaseFiles } from '../phaselog/index.js';
import { describeOutcome, requestWith, type RequestOutcome } from './request.js';
import { formatStatusSummary, formatStatusTable, summarizeStatus, waitConverged, type ReplicaRow } from './status.js';
import { formatTrace, traceRequest, type Trace } from './trace.js';
import { FAULT_ACTS } from './demo-faults.js';
import type { ClusterConfig } from '../runtime/config.js';

export interface DemoContext {
  dir: string;
  cluster: LoadedCluster;
  client: PbftClient;
  palette: Palette;
  signal: AbortSignal;
  /** narrative output, one line per call */
  out: (line: string) => void;
  /** send one operation, print it, remember it */
  request: (op: KvOp) => Promise<RequestOutcome>;
  /** every request sent so far */
  requests: RequestOutcome[];
  /** for acts to leave results in the summary */
  results: Record<string, unknown>;
  /** the replica program (tests) */
  entry?: string;
}

export interface DemoAct {
  id: string;
  title: string;
  run(ctx: DemoContext): Promise<void>;
}

export interface DemoOptions {
  replicas?: number;
  acts?: DemoAct[];
  out: (line: string) => void;
  palette: Palette;
  signal: AbortSignal;
  /** keep the temporary directory (and print where it is) */
  keep?: boolean;
  /** where to create the temporary directory (default: the OS temp dir) */
  parentDir?: string;
  entry?: string;
  requestTimeoutMs?: number;
  /** protocol overrides (default: DEMO_PROTOCOL) */
  protocol?: Partial<ClusterConfig['protocol']>;
  /** awaited before each act (pbft demo --step: wait for Enter) */
  pause?: (next: { step: number; total: number; title: string }) => Promise<void>;
}

/** A small checkpoint interval, so that the fault act sees a corrupt state repaired quickly. */
export const DEMO_PROTOCOL: Partial<ClusterConfig['protocol']> = { checkpointInterval: 4, logWindow: 8 };

export interface DemoSummary {
  ok: boolean;
  dir: string;
  kept: boolean;
  n: number;
  f: number;
  ports: number[];
  acts: { id: string; title: string; ms: number; ok: boolean }[];
  requests: { op: string; key: string; ok: boolean; result: string | null; replicas: number[]; view: number; latencyMs: number }[];
  results: Record<string, unknown>;
  durationMs: number;
  error?: string;
}

/**
 * Wait until a line (Enter) arrives on `input`; rejects with the abort reason when `signal`
 * aborts first. The prompt goes to `output`.
 */
export function waitForEnter(input: NodeJS.ReadableStream, output: NodeJS.WritableStream, prompt: string, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    output.write(prompt);
    let buffered = '';
    const done = (err?: Error) => {
      input.off('data', onData);
      input.off('end', onEnd);
      signal?.removeEventListener('abort', onAbort);
      input.pause();
      if (err) reject(err);
      else resolve();
    };
    const onData = (chunk: Buffer | string) => {
      buffered += chunk.toString();
      if (buffered.includes('\n') || buffered.includes('\r')) done();
    };
    // no more input (Ctrl-D): go on without pausing again is the caller's choice; here, go on
    const onEnd = () => done();
    const onAbort = () => done(abortError(signal));
    input.on('data', onData);
    input.once('end', onEnd);
    signal?.addEventListener('abort', onAbort, { once: true });
    input.resume();
  });
}

/** n distinct free ports from the OS (held open together so they differ). */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<import('node:net').Server>((res, rej) => {
          const s = createServer();
          s.once('error', rej);
          s.listen({ host, port: 0, exclusive: true }, () => res(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((res) => s.close(() => res()))));
  return ports;
}

function step(ctx: { out: (l: string) => void; palette: Palette }, i: number, total: number, title: string): void {
  ctx.out('');
  ctx.out(ctx.palette.paint('1', `[${i}/${total}] ${title}`));
}

// ---------------------------------------------------------------------------------------
// The acts
// ---------------------------------------------------------------------------------------

export const requestsAct: DemoAct = {
  id: 'requests',
  title: 'Sending requests: each is accepted once f+1 replicas send the same signed reply',
  async run(ctx) {
    for (const op of [
      { op: 'put', key: 'alice', value: '100' },
      { op: 'put', key: 'bob', value: '50' },
      { op: 'get', key: 'alice' },
      { op: 'put', key: 'alice', value: '75' },
      { op: 'del', key: 'bob' },
      { op: 'get', key: 'bob' },
    ] as KvOp[]) {
      await ctx.request(op);
    }
  },
};

export const traceAct: DemoAct = {
  id: 'trace',
  title: 'The life of one request, from the merged phase logs of all replicas',
  async run(ctx) {
    const r = await ctx.request({ op: 'put', key: 'greeting', value: 'hello, world' });
    const files = await discoverPhaseFiles(
      ctx.cluster.dir,
      ctx.cluster.config.replicas.map((x) => x.id),
    );
    const t: Trace = await traceRequest(
      files,
      { client: r.client, timestamp: r.timestamp },
      {
        expect: ctx.cluster.config.replicas.map((x) => x.id),
        timeoutMs: 3000,
        sinceMs: r.sentAtMs - 5000,
        signal: ctx.signal,
      },
    );
    ctx.out('');
    for (const line of formatTrace(t, ctx.palette, { sentAtMs: r.sentAtMs, doneAtMs: r.doneAtMs, replicas: r.replicas, view: r.view }, { compact: true }).split(
      '\n',
    ))
      ctx.out(`  ${line}`);
    ctx.out('');
    ctx.out('  The primary (r0) assigns a sequence number (pre-prepare); the backups agree on it (prepare),');
    ctx.out('  then everyone commits once a quorum has prepared; each replica executes and replies.');
    ctx.results.trace = { seqs: t.seqs, executedBy: t.executedBy, records: t.records.length };
  },
};

export const agreementAct: DemoAct = {
  id: 'agreement',
  title: 'Every replica executed the same requests and holds the same state',
  async run(ctx) {
    const minExecuted = ctx.requests.length > 0 ? 1 : 0;
    const { converged, rows } = await waitConverged(ctx.cluster, { timeoutMs: 5000, minExecuted, signal: ctx.signal });
    ctx.out('');
    for (const line of formatStatusTable(rows, ctx.palette).split('\n')) ctx.out(`  ${line}`);
    ctx.out('');
    for (const line of formatStatusSummary(summarizeStatus(ctx.cluster, rows), rows, ctx.palette).split('\n')) ctx.out(`  ${line}`);
    ctx.results.agreement = { converged, lastExecuted: rows.map((r: ReplicaRow) => r.lastExecuted), digests: [...new Set(rows.map((r) => r.stateDigest))] };
    if (!converged)
      throw new PbftError('DEMO_DIVERGED', 'the replicas did not converge to the same state within 5 s', {
        hint: 'run again with --keep and inspect the logs with pbft logs --dir <the kept directory>',
      });
  },
};

export const DEFAULT_ACTS: DemoAct[] = [requestsAct, traceAct, ...FAULT_ACTS, agreementAct];

// ---------------------------------------------------------------------------------------
// The show
// ---------------------------------------------------------------------------------------

export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const t0 = performance.now();
  const n = o.replicas ?? 4;
  const acts = o.acts ?? DEFAULT_ACTS;
  const total = acts.length + 2;
  const p = o.palette;
  const out = o.out;
  const dir = await mkdtemp(join(o.parentDir ?? tmpdir(), 'pbft-demo-'));
  const summary: DemoSummary = { ok: false, dir, kept: !!o.keep, n, f: Math.floor((n - 1) / 3), ports: [], acts: [], requests: [], results: {}, durationMs: 0 };
  let client: PbftClient | null = null;
  let started = false;
  try {
    const check = () => {
      if (o.signal.aborted) throw abortError(o.signal);
    };
    // 1. init
    step({ out, palette: p }, 1, total, 'Creating a throwaway cluster');
    const ports = await freePorts(n);
    summary.ports = ports;
    const init = await initCluster({ dir, replicas: n, ports, clients: 1, protocol: o.protocol ?? DEMO_PROTOCOL });
    const cluster = init.cluster;
    const q = quorums(n, cluster.params.f);
    out(`  ${n} replicas tolerating f = ${cluster.params.f} Byzantine fault${cluster.params.f === 1 ? '' : 's'}, in ${dir}`);
    out(`  ports ${ports.join(', ')} on 127.0.0.1; an Ed25519 key pair per replica, client and operator`);
    check();

    // 2. up
    step({ out, palette: p }, 2, total, 'Starting the replicas (separate processes, talking over WebSockets)');
    const tUp = performance.now();
    started = true;
    const up = await upCluster(cluster, { readyTimeoutMs: 30_000, signal: o.signal, ...(o.entry ? { entry: o.entry } : {}) });
    const failure = upFailure(cluster, up);
    if (failure) throw failure;
    check();
    out(`  ${up.running.length}/${n} replicas ready in ${formatMs(performance.now() - tUp)}: each listens and is connected to a quorum (${q.quorum})`);
    out(`  replica 0 is the primary of view 0`);

    client = await PbftClient.connect(cluster, { signal: o.signal });
    await client.waitConnected(n, { timeoutMs: 5000, signal: o.signal }).catch(() => undefined);
    const c = client;
    const ctx: DemoContext = {
      dir,
      cluster,
      client: c,
      palette: p,
      signal: o.signal,
      out,
      requests: [],
      results: summary.results,
      ...(o.entry ? { entry: o.entry } : {}),
      request: async (op) => {
        const r = await requestWith(c, op, { timeoutMs: o.requestTimeoutMs ?? 10_000, signal: o.signal });
        ctx.requests.push(r);
        summary.requests.push({ op: op.op, key: op.key, ok: r.ok, result: r.result, replicas: r.replicas, view: r.view, latencyMs: r.latencyMs });
        out(`  ${describeOutcome(r).padEnd(48)} ${p.paint('2', `replies from r${r.replicas.join(',r')}, view ${r.view}, ${formatMs(r.latencyMs)}`)}`);
        return r;
      },
    };
    for (let i = 0; i < acts.length; i++) {
      const act = acts[i]!;
      check();
      if (o.pause) {
        await o.pause({ step: i + 3, total, title: act.title });
        check();
      }
      step({ out, palette: p }, i + 3, total, act.title);
      const ta = performance.now();
      try {
        await act.run(ctx);
        summary.acts.push({ id: act.id, title: act.title, ms: performance.now() - ta, ok: true });
      } catch (e) {
        summary.acts.push({ id: act.id, title: act.title, ms: performance.now() - ta, ok: false });
        throw e;
      }
    }
    summary.ok = true;
    return summary;
  } catch (e) {
    summary.error = e instanceof Error ? e.message : String(e);
    throw e;
  } finally {
    client?.close();
    out('');
    if (started) {
      const stopped = await downCluster(dir, n, { graceMs: 3000 }).catch((e: unknown) => {
        out(`  could not stop every replica: ${e instanceof Error ? e.message : String(e)}`);
        return [];
      });
      out(`Stopped ${stopped.filter((s) => s.status === 'stopped').length} replica processes.`);
    }
    if (o.keep) out(`Kept the cluster directory: ${dir}  (try: pbft logs --dir ${dir})`);
    else {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      out(`Removed ${dir}.`);
    }
    summary.durationMs = performance.now() - t0;
  }
}
