/**
 * `pbft request put K V | get K | del K` as a library call: validate the arguments, send the
 * operation through PbftClient, interpret the key-value result.
 */
import { open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { encodeKvOp, MAX_KEY_BYTES, parseKvResult, type KvOp } from '../app/kv.js';
import type { LoadedCluster } from '../runtime/config.js';
import { PbftClient, type RequestResult } from '../runtime/client.js';
import { PbftError, describeError, isPbftError } from '../errors.js';
import { CliError } from './errors.js';
import { cmd } from './hints.js';
import { replicaProcessState } from './processes.js';
import { showKey, showValue } from './format.js';

const USAGE = 'use: pbft request put KEY VALUE | get KEY | del KEY (VALUE may be - for stdin or @FILE)';

/** Turn command-line words into a KV operation, or a one-line usage error. */
export function parseRequestArgs(words: readonly (string | undefined)[]): KvOp {
  const [action, key, value, ...extra] = words.filter((w): w is string => w !== undefined);
  if (action === undefined) throw new CliError('BAD_ARGUMENT', 'no operation given', USAGE);
  if (action !== 'put' && action !== 'get' && action !== 'del') throw new CliError('BAD_ARGUMENT', `unknown operation "${action}"`, USAGE);
  if (key === undefined || key.length === 0) throw new CliError('BAD_ARGUMENT', `${action} needs a KEY`, USAGE);
  if (Buffer.byteLength(key) > MAX_KEY_BYTES)
    throw new CliError('BAD_ARGUMENT', `the key is ${Buffer.byteLength(key)} bytes, more than ${MAX_KEY_BYTES}`, 'use a shorter key');
  if (action === 'put') {
    if (value === undefined) throw new CliError('BAD_ARGUMENT', 'put needs a KEY and a VALUE', USAGE);
    if (extra.length > 0)
      throw new CliError(
        'BAD_ARGUMENT',
        `put takes one VALUE but got ${1 + extra.length} words`,
        'quote a value with spaces, e.g. pbft request put greeting "hello world"',
      );
    return { op: 'put', key, value };
  }
  if (value !== undefined) throw new CliError('BAD_ARGUMENT', `${action} takes only a KEY, but got "${value}" too`, USAGE);
  return { op: action, key };
}

export type ValueSource = 'argument' | 'stdin' | 'file';

export interface ResolvedValue {
  value: string;
  from: ValueSource;
  /** the file it was read from (absolute) */
  file?: string;
  bytes: number;
}

export interface ValueOptions {
  /** the largest value accepted, in bytes (protocol.maxOpBytes) */
  maxBytes: number;
  /** take the word as it is: no - or @FILE */
  literal?: boolean;
  /** standard input (default process.stdin) */
  stdin?: AsyncIterable<Buffer | string>;
  /** relative @FILE paths are relative to this (default: cwd) */
  cwd?: string;
}

function decodeUtf8(buf: Buffer, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw new CliError('BAD_ARGUMENT', `${what} is not UTF-8 text`, 'values are strings; encode binary data first (e.g. base64)');
  }
}

function tooLarge(what: string, bytes: number | string, max: number): CliError {
  return new CliError(
    'BAD_ARGUMENT',
    `${what} is ${bytes} bytes; one request carries at most ${max} bytes of value here (protocol.maxOpBytes less the key and encoding)`,
    'store a smaller value, or use a cluster with a larger protocol.maxOpBytes in its cluster.json',
  );
}

/**
 * The VALUE of a put: the word itself, `-` for standard input, `@FILE` for a file's contents
 * (read as they are, trailing newline included), unless `literal`. At most maxBytes are read.
 */
export async function resolveValue(word: string, o: ValueOptions): Promise<ResolvedValue> {
  if (o.literal || (word !== '-' && !word.startsWith('@'))) {
    const bytes = Buffer.byteLength(word);
    if (bytes > o.maxBytes) throw tooLarge('the value', bytes, o.maxBytes);
    return { value: word, from: 'argument', bytes };
  }
  if (word === '-') {
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const c of o.stdin ?? process.stdin) {
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      total += b.length;
      if (total > o.maxBytes) throw tooLarge('the value on standard input', `more than ${o.maxBytes}`, o.maxBytes);
      chunks.push(b);
    }
    const buf = Buffer.concat(chunks);
    return { value: decodeUtf8(buf, 'the value on standard input'), from: 'stdin', bytes: buf.length };
  }
  const name = word.slice(1);
  if (name === '')
    throw new CliError('BAD_ARGUMENT', 'a value of "@" names no file', 'write @FILE to send a file\'s contents, or use --literal to send "@" itself');
  const file = resolve(o.cwd ?? process.cwd(), name);
  let size: number;
  try {
    const st = await stat(file);
    if (!st.isFile())
      throw new CliError('BAD_ARGUMENT', `${name} (from ${word}) is not a regular file`, 'name a file, or use --literal to send the text itself');
    size = st.size;
  } catch (e) {
    if (e instanceof PbftError) throw e;
    throw new CliError(
      'BAD_ARGUMENT',
      `cannot read the value file ${name}: ${describeError(e)}`,
      'check the path, or use --literal to send a value that starts with @',
    );
  }
  if (size > o.maxBytes) throw tooLarge(`the value file ${name}`, size, o.maxBytes);
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(o.maxBytes + 1);
    let len = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, len, buf.length - len, len);
      if (bytesRead === 0) break;
      len += bytesRead;
      if (len > o.maxBytes) throw tooLarge(`the value file ${name}`, `more than ${o.maxBytes}`, o.maxBytes);
    }
    return { value: decodeUtf8(buf.subarray(0, len), `the value file ${name}`), from: 'file', file, bytes: len };
  } finally {
    await fh.close();
  }
}

/** The room left for a value in one operation (protocol.maxOpBytes less the encoding). */
export function maxValueBytes(cluster: LoadedCluster, key: string): number {
  const overhead = Buffer.byteLength(encodeKvOp({ op: 'put', key, value: '' }));
  return Math.max(0, cluster.config.protocol.maxOpBytes - overhead);
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
        throw new CliError('CLUSTER_DOWN', `the cluster in ${cluster.dir} is down (no replica is running)`, `start it with: ${cmd('up', cluster.dir)}`);
      }
      const running = states.filter((s) => s.running).map((s) => s.id);
      // nothing was sent: the request was certainly not executed
      throw new CliError(
        'NO_QUORUM',
        `no quorum: ${(e as Error).message.replace(/; is the cluster up\?.*$/, '')} (running here: replica${running.length > 1 ? 's' : ''} ${running.join(', ')}); the request was not sent`,
        `start more replicas with ${cmd('up', cluster.dir)}, then check with ${cmd('status', cluster.dir)}`,
        { outcome: 'not-sent', connected: client.connectedReplicas(), running },
      );
    }
    try {
      return await requestWith(client, op, { timeoutMs, ...(o.readOnly ? { readOnly: true } : {}), ...(o.signal ? { signal: o.signal } : {}) });
    } catch (e) {
      if (isPbftError(e, 'NO_QUORUM')) throw explainTimeout(cluster, op, e, client.connectedReplicas());
      throw e;
    }
  } finally {
    client.close();
  }
}

/**
 * A request that timed out was sent: the replicas may still execute it once they agree (after
 * a view change, a healed partition, a resumed replica). Its outcome is unknown, like
 * Jepsen's "info"; the advice depends on whether the client could reach a quorum at all.
 */
export function explainTimeout(cluster: LoadedCluster, op: KvOp, e: PbftError, connected: number[]): CliError {
  const n = cluster.config.replicas.length;
  const quorum = 2 * cluster.params.f + 1;
  const effect =
    op.op === 'get'
      ? 'a get changes nothing, so it is safe to retry'
      : `the outcome is unknown: the ${op.op} may still be executed once the replicas agree, so check with ${cmd(`request get ${showKey(op.key)}`, cluster.dir)} before retrying`;
  const hint =
    connected.length >= quorum
      ? `this client is connected to ${connected.length} of ${n} replicas, yet they did not agree in time: a partition between replicas, a view change, or faults in force; see ${cmd('status', cluster.dir)} and ${cmd('fault list', cluster.dir)}`
      : `this client is connected to only ${connected.length} of ${n} replicas (${quorum} make a quorum); is the cluster up? check with ${cmd('status', cluster.dir)}`;
  const message = e.message.replace(/; the outcome is unknown.*$/, '');
  return new CliError('NO_QUORUM', `${message}; ${effect}`, hint, { ...(e.details ?? {}), outcome: op.op === 'get' ? 'none' : 'unknown', connected });
}

/** Send one KV operation on an open client and interpret the result. */
export async function requestWith(
  client: PbftClient,
  op: KvOp,
  o: { timeoutMs?: number; readOnly?: boolean; signal?: AbortSignal } = {},
): Promise<RequestOutcome> {
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

/**
 * One line describing the result, e.g. `put greeting = "hello"  (previous value: none)`. Keys
 * and values are quoted and escaped for the terminal; long values are cut, with their length.
 */
export function describeOutcome(o: RequestOutcome): string {
  const show = (v: string | null) => (v === null ? 'none' : showValue(v));
  const key = showKey(o.op.key);
  if (!o.ok) return `${o.op.op} ${key}: the replicas rejected the operation: ${o.error}`;
  switch (o.op.op) {
    case 'put':
      return `put ${key} = ${showValue(o.op.value)}  (previous value: ${show(o.result)})`;
    case 'get':
      return o.result === null ? `${key} is not set` : `${key} = ${showValue(o.result)}`;
    case 'del':
      return o.result === null ? `del ${key}: it was not set` : `deleted ${key} (it was ${showValue(o.result)})`;
  }
}
