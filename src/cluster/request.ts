/**
 * `pbft request put K V | get K | del K` as a library call: validate the arguments, send the
 * operation through PbftClient, interpret the key-value result.
 */
import { encodeKvOp, MAX_KEY_BYTES, parseKvResult, type KvOp } from '../app/kv.js';
import type { LoadedCluster } from '../runtime/config.js';
import { PbftClient, type RequestResult } from '../runtime/client.js';
import { isPbftError } from '../errors.js';
import { CliError } from './errors.js';
import { replicaProcessState } from './processes.js';

const USAGE = 'use: pbft request put KEY VALUE | get KEY | del KEY';

/** Turn command-line words into a KV operation, or a one-line usage error. */
export function parseRequestArgs(words: readonly (string | undefined)[]): KvOp {
  const [action, key, value, ...extra] = words.filter((w): w is string => w !== undefined);
  if (action === undefined) throw new CliError('BAD_ARGUMENT', 'no operation given', USAGE);
  if (action !== 'put' && action !== 'get' && action !== 'del') throw new CliError('BAD_ARGUMENT', `unknown operation "${action}"`, USAGE);
  if (key === undefined || key.length === 0) throw new CliError('BAD_ARGUMENT', `${action} needs a KEY`, USAGE);
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new CliError('BAD_ARGUMENT', `the key is ${Buffer.byteLength(key)} bytes, more than ${MAX_KEY_BYTES}`, 'use a shorter key');
  if (action === 'put') {
    if (value === undefined) throw new CliError('BAD_ARGUMENT', 'put needs a KEY and a VALUE', USAGE);
    if (extra.length > 0) throw new CliError('BAD_ARGUMENT', `put takes one VALUE but got ${1 + extra.length} words`, 'quote a value with spaces, e.g. pbft request put greeting "hello world"');
    return { op: 'put', key, value };
  }
  if (value !== undefined) throw new CliError('BAD_ARGUMENT', `${action} takes only a KEY, but got "${value}" too`, USAGE);
  return { op: action, key };
}

export interface RequestOutcome {
  ok: boolean;
  op: KvOp;
  /** put/del: the previous value; get: the current value (null when absent) */
  result: string | null;
  /** an application-level error (malformed operation), if any */
  error?: string;
  /** the raw result string agreed by f+1 replicas */
  raw: string;
  replicas: number[];
  view: number;
  latencyMs: number;
  client: string;
  timestamp: number;
  /** wall-clock times (ms since the epoch) around the request, for --trace */
  sentAtMs: number;
  doneAtMs: number;
}

export interface RunRequestOptions {
  clientId?: string;
  timeoutMs?: number;
  readOnly?: boolean;
  signal?: AbortSignal;
}

/** How long to wait for the first connections before calling the cluster down. */
const CONNECT_MS = 3000;

export async function runRequest(cluster: LoadedCluster, op: KvOp, o: RunRequestOptions = {}): Promise<RequestOutcome> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const client = await PbftClient.connect(cluster, { ...(o.clientId ? { clientId: o.clientId } : {}), ...(o.signal ? { signal: o.signal } : {}) });
  try {
    try {
      await client.waitConnected(undefined, { timeoutMs: Math.min(timeoutMs, CONNECT_MS), ...(o.signal ? { signal: o.signal } : {}) });
    } catch (e) {
      if (!isPbftError(e, 'NO_QUORUM')) throw e;
      const states = await Promise.all(cluster.config.replicas.map((r) => replicaProcessState(cluster.dir, r.id)));
      if (states.every((s) => !s.running)) {
        throw new CliError('CLUSTER_DOWN', `the cluster in ${cluster.dir} is down (no replica is running)`, `start it with: pbft up --dir ${cluster.dir}`);
      }
      const running = states.filter((s) => s.running).map((s) => s.id);
      throw new CliError(
        'NO_QUORUM',
        `no quorum: ${(e as Error).message.replace(/; is the cluster up\?.*$/, '')} (running here: replica${running.length > 1 ? 's' : ''} ${running.join(', ')})`,
        'start more replicas with pbft up, then check with pbft status',
      );
    }
    return await requestWith(client, op, { timeoutMs, ...(o.readOnly ? { readOnly: true } : {}), ...(o.signal ? { signal: o.signal } : {}) });
  } finally {
    client.close();
  }
}

/** Send one KV operation on an open client and interpret the result. */
export async function requestWith(client: PbftClient, op: KvOp, o: { timeoutMs?: number; readOnly?: boolean; signal?: AbortSignal } = {}): Promise<RequestOutcome> {
  const sentAtMs = Date.now();
  const r: RequestResult = await client.request(encodeKvOp(op), o);
  const doneAtMs = Date.now();
  const kv = parseKvResult(r.result);
  return {
    ok: kv.ok,
    op,
    result: kv.ok ? kv.value : null,
    ...(kv.ok ? {} : { error: kv.error }),
    raw: r.result,
    replicas: r.replicas,
    view: r.view,
    latencyMs: r.latencyMs,
    client: client.id,
    timestamp: r.timestamp,
    sentAtMs,
    doneAtMs,
  };
}

/** One line describing the result, e.g. `put greeting = "hello"  (was: none)`. */
export function describeOutcome(o: RequestOutcome): string {
  const show = (v: string | null) => (v === null ? 'none' : JSON.stringify(v));
  if (!o.ok) return `${o.op.op} ${o.op.key}: the replicas rejected the operation: ${o.error}`;
  switch (o.op.op) {
    case 'put':
      return `put ${o.op.key} = ${JSON.stringify(o.op.value)}  (previous value: ${show(o.result)})`;
    case 'get':
      return o.result === null ? `${o.op.key} is not set` : `${o.op.key} = ${JSON.stringify(o.result)}`;
    case 'del':
      return o.result === null ? `del ${o.op.key}: it was not set` : `deleted ${o.op.key} (it was ${JSON.stringify(o.result)})`;
  }
}
