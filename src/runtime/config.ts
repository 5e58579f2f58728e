/**
 * The cluster directory and its configuration (cluster.json, version 1).
 *
 * <dir>/cluster.json             the config (schema below)
 * <dir>/keys/replica-<i>.key     hex Ed25519 secret seed, mode 0600 (dir 0700)
 * <dir>/keys/client-<name>.key   per configured client
 * <dir>/keys/operator.key        signs fault/admin commands
 * <dir>/replicas/<i>/wal/        durable log of PersistRecords: segment files (see storage.ts)
 * <dir>/replicas/<i>/wal.jsonl   the single-file durable log of older versions (converted on start)
 * <dir>/replicas/<i>/ledger/     audit ledger: executions and their certificates (see ledger.ts)
 * <dir>/replicas/<i>/phases.jsonl phase log, one JSON object per line
 * <dir>/replicas/<i>/replica.pid pid file of the running process
 * <dir>/replicas/<i>/process.log the process's stdout/stderr
 * <dir>/replicas/<i>/replica.json per-replica overrides (optional)
 *
 * Every problem is reported as a PbftError whose message is one line naming the file, the
 * field and the fix.
 *
 * cluster.json fields:
 *   version                     1
 *   name                        cluster name; signed into every hello and operator command
 *   protocol.n, protocol.f      replicas, and faults tolerated (n >= 3f+1)
 *   protocol.checkpointInterval K: a checkpoint every K executed sequence numbers
 *   protocol.logWindow          L: sequence numbers accepted above the last stable checkpoint
 *                               (a multiple of K, at least 2K)
 *   protocol.maxBatchSize       requests ordered by one pre-prepare
 *   protocol.maxInFlight        sequence numbers the primary keeps in flight (<= L)
 *   protocol.batchHoldMs        the window of an idle primary's wait for the clients it just answered (optional; a hold lasts up to 4 windows, README)
 *   protocol.viewChangeTimeoutMs / maxViewChangeTimeoutMs
 *                               view-change timer, doubled per failed view change up to the max
 *   protocol.statusIntervalMs   period of STATUS messages (retransmission, catch-up)
 *   protocol.maxOpBytes         largest operation a request may carry
 *   crypto                      signature backend: "node" (node:crypto Ed25519) or "noble"
 *   replicas[i]                 {id: i, host, port, publicKey}
 *   clients[j]                  {id, publicKey}: clients allowed to send requests
 *   openClients                 also accept self-certifying client ids "pk:<hex public key>"
 *   operator.publicKey          verifies signed fault/admin commands
 *   faultInjection              false: every replica refuses fault commands
 *   runtime.heartbeatMs         WebSocket ping period; a socket silent for two periods is cut
 *   runtime.maxFrameBytes       largest WebSocket frame accepted (bigger: connection closed)
 *   runtime.reconnectMinMs / reconnectMaxMs
 *                               reconnection back-off bounds (exponential, with jitter)
 *   runtime.clientRetransmitMs  client retransmission timeout (doubles, up to 8x)
 *
 * replicas/<i>/replica.json (optional, per replica): see ReplicaOverridesSchema.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { quorums } from '../core/quorum.js';
import { DEFAULT_BATCH_HOLD_MS, maxBatchHoldMs } from '../core/replica.js';
import type { ProtocolParams, ReplicaId } from '../core/types.js';
import { type ClusterSchemeName, keyringFor, makeScheme, sodiumAvailable, type Keyring, type SignatureScheme } from '../crypto/index.js';
import { sodiumLoadError } from '../crypto/sodium.js';
import { PbftError, describeError } from '../errors.js';

// ---------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------

function int(min: number, max: number): z.ZodNumber {
  const what = `must be an integer ${min}-${max}`;
  return z
    .number({ invalid_type_error: what, required_error: `is missing (${what})` })
    .int(what)
    .min(min, what)
    .max(max, what);
}
function bool(): z.ZodBoolean {
  return z.boolean({ invalid_type_error: 'must be true or false', required_error: 'is missing (true or false)' });
}
const hexKey = z
  .string({ invalid_type_error: 'must be a hex string', required_error: 'is missing (64 hex characters)' })
  .regex(/^[0-9a-f]{64}$/, 'must be a 32-byte Ed25519 public key in lower-case hex (64 characters)');

export const CLIENT_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
export const MAX_REPLICAS = 256;

export const ProtocolSchema = z
  .object({
    n: int(1, MAX_REPLICAS),
    f: int(0, Math.floor((MAX_REPLICAS - 1) / 3)),
    checkpointInterval: int(1, 1_000_000),
    logWindow: int(1, 10_000_000),
    maxBatchSize: int(1, 10_000),
    maxInFlight: int(1, 10_000),
    batchHoldMs: int(0, 900_000).optional(),
    viewChangeTimeoutMs: int(10, 3_600_000),
    maxViewChangeTimeoutMs: int(10, 86_400_000),
    statusIntervalMs: int(10, 3_600_000),
    maxOpBytes: int(1, 64 * 1024 * 1024),
  })
  .strict();

export const RuntimeSchema = z
  .object({
    heartbeatMs: int(50, 3_600_000),
    maxFrameBytes: int(1024, 1024 * 1024 * 1024),
    reconnectMinMs: int(1, 3_600_000),
    reconnectMaxMs: int(1, 3_600_000),
    clientRetransmitMs: int(1, 3_600_000),
  })
  .strict();

export const ReplicaEntrySchema = z
  .object({
    id: int(0, MAX_REPLICAS - 1),
    host: z
      .string({ invalid_type_error: 'must be a host name or IP address', required_error: 'is missing (a host name or IP address)' })
      .min(1, 'must be a host name or IP address')
      .max(253, 'must be a host name or IP address (at most 253 characters)')
      .regex(/^[A-Za-z0-9.:_-]+$/, 'must be a host name or IP address'),
    port: int(1, 65535),
    publicKey: hexKey,
  })
  .strict();

export const ClientEntrySchema = z
  .object({
    id: z
      .string({ invalid_type_error: 'must be a string', required_error: 'is missing' })
      .regex(CLIENT_ID_RE, 'must be 1-64 characters of letters, digits, "_", "." or "-"'),
    publicKey: hexKey,
  })
  .strict();

export const ClusterConfigSchema = z
  .object({
    $comment: z.string().optional(),
    version: z.literal(1, { errorMap: () => ({ message: 'must be 1 (this pbft reads cluster.json version 1)' }) }),
    name: z
      .string({ invalid_type_error: 'must be a string', required_error: 'is missing' })
      .min(1, 'must not be empty')
      .max(64, 'must be at most 64 characters'),
    protocol: ProtocolSchema,
    crypto: z.enum(['sodium', 'node', 'noble'], { errorMap: () => ({ message: 'must be "sodium", "node" or "noble"' }) }),
    replicas: z
      .array(ReplicaEntrySchema, { invalid_type_error: 'must be an array of replicas', required_error: 'is missing' })
      .min(1, 'must list at least one replica'),
    clients: z
      .array(ClientEntrySchema, { invalid_type_error: 'must be an array of clients', required_error: 'is missing' })
      .max(10_000, 'must list at most 10000 clients'),
    openClients: bool(),
    operator: z.object({ publicKey: hexKey }).strict(),
    faultInjection: bool(),
    runtime: RuntimeSchema,
  })
  .strict()
  .superRefine((c, ctx) => {
    const p = c.protocol;
    const issue = (pathParts: (string | number)[], message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, path: pathParts, message });
    if (p.n < 3 * p.f + 1) issue(['protocol', 'f'], `is ${p.f} but n = ${p.n} can tolerate at most f = ${Math.floor((p.n - 1) / 3)} (PBFT needs n >= 3f+1)`);
    if (p.logWindow % p.checkpointInterval !== 0)
      issue(['protocol', 'logWindow'], `must be a multiple of protocol.checkpointInterval (${p.checkpointInterval}), e.g. ${2 * p.checkpointInterval}`);
    else if (p.logWindow < 2 * p.checkpointInterval)
      issue(
        ['protocol', 'logWindow'],
        `must be at least twice protocol.checkpointInterval (${2 * p.checkpointInterval}), so that a checkpoint can become stable before the window fills`,
      );
    if (p.maxInFlight > p.logWindow) issue(['protocol', 'maxInFlight'], `must not exceed protocol.logWindow (${p.logWindow})`);
    if (p.batchHoldMs !== undefined && p.batchHoldMs > maxBatchHoldMs(p.viewChangeTimeoutMs))
      issue(['protocol', 'batchHoldMs'], `must not exceed a quarter of protocol.viewChangeTimeoutMs (${maxBatchHoldMs(p.viewChangeTimeoutMs)})`);
    if (p.maxViewChangeTimeoutMs < p.viewChangeTimeoutMs)
      issue(['protocol', 'maxViewChangeTimeoutMs'], `must be at least protocol.viewChangeTimeoutMs (${p.viewChangeTimeoutMs})`);
    if (c.runtime.reconnectMaxMs < c.runtime.reconnectMinMs)
      issue(['runtime', 'reconnectMaxMs'], `must be at least runtime.reconnectMinMs (${c.runtime.reconnectMinMs})`);
    if (p.maxOpBytes * 2 + 4096 > c.runtime.maxFrameBytes)
      issue(['runtime', 'maxFrameBytes'], `must exceed twice protocol.maxOpBytes plus 4096 (${p.maxOpBytes * 2 + 4096}) so that a request fits in a frame`);
    if (c.replicas.length !== p.n)
      issue(['replicas'], `has ${c.replicas.length} entries but protocol.n is ${p.n}; list exactly one replica per id 0..${p.n - 1}`);
    const addrs = new Map<string, number>();
    const keys = new Map<string, string>();
    c.replicas.forEach((r, i) => {
      if (r.id !== i) issue(['replicas', i, 'id'], `must be ${i} (replicas are listed in id order 0..n-1)`);
      const a = `${r.host.toLowerCase()}:${r.port}`;
      const j = addrs.get(a);
      if (j !== undefined) issue(['replicas', i, 'port'], `duplicates replicas[${j}] (${a}); give every replica its own host:port`);
      else addrs.set(a, i);
      const k = keys.get(r.publicKey);
      if (k !== undefined) issue(['replicas', i, 'publicKey'], `duplicates the key of ${k}; every replica needs its own key`);
      else keys.set(r.publicKey, `replicas[${i}]`);
    });
    const ids = new Set<string>();
    c.clients.forEach((cl, i) => {
      if (ids.has(cl.id)) issue(['clients', i, 'id'], `"${cl.id}" is listed twice; client ids must be unique`);
      ids.add(cl.id);
    });
  });

export type ClusterConfig = z.infer<typeof ClusterConfigSchema>;
export type ReplicaEntry = z.infer<typeof ReplicaEntrySchema>;
export type ClientEntry = z.infer<typeof ClientEntrySchema>;
export type RuntimeConfig = z.infer<typeof RuntimeSchema>;

/** Per-replica overrides a user may put in replicas/<i>/replica.json. */
export const ReplicaOverridesSchema = z
  .object({
    $comment: z.string().optional(),
    /** fsync the durable log (default true); false trades crash safety for speed */
    fsync: bool().optional(),
    /** false refuses fault commands on this replica even when cluster.json allows them */
    faultInjection: bool().optional(),
    /** write the phase log (default true) */
    phaseLog: bool().optional(),
    /** rotate phases.jsonl to phases.1.jsonl beyond this size */
    phaseLogMaxBytes: int(4096, 64 * 1024 * 1024 * 1024).optional(),
    /** serve Prometheus /metrics and /healthz on 127.0.0.1 at this port (0: any free port); absent: off */
    metricsPort: int(0, 65535).optional(),
    /** audit ledger: start a new segment beyond this size (default 8 MiB) */
    ledgerSegmentBytes: int(4096, 1024 * 1024 * 1024).optional(),
    /** audit ledger: delete the oldest segments while all of them exceed this (default 256 MiB) */
    ledgerMaxBytes: int(4096, 1024 * 1024 * 1024 * 1024).optional(),
    /**
     * How far V8 lets the heap grow past what the last full collection kept before it collects
     * again, in percent (default DEFAULT_HEAP_GROWTH_PERCENT; 0: V8's own heuristics, which let a
     * replica's heap grow to about four times its live data). Applies to replicas started by
     * `pbft up` / `pbft restart` (a node flag, --heap-growing-percent).
     */
    heapGrowthPercent: int(0, 1000).optional(),
  })
  .strict();
export type ReplicaOverrides = z.infer<typeof ReplicaOverridesSchema>;

/**
 * replica.json's heapGrowthPercent when absent. A replica's live heap is small (about 20 MB at
 * 50 clients with 51,200 keys) but allocates fast (every message, every reply, a full
 * checkpoint's snapshot); with V8's own heuristics the heap grew to about 90 MB between full
 * collections and a replica's peak RSS to 180-200 MB. At 25% it stays near the live size; the
 * collections this adds cost nothing measurable in throughput (README, Performance).
 */
export const DEFAULT_HEAP_GROWTH_PERCENT = 25;

// ---------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------

export interface ClusterPaths {
  dir: string;
  config: string;
  keysDir: string;
  operatorKey: string;
  replicasDir: string;
  replicaKey(id: ReplicaId): string;
  clientKey(name: string): string;
  replicaDir(id: ReplicaId): string;
  /** the single-file durable log of older versions (converted to walDir on start) */
  wal(id: ReplicaId): string;
  /** the durable log: a directory of segment files */
  walDir(id: ReplicaId): string;
  /** the audit ledger: a directory of segment files (ledger.ts) */
  ledgerDir(id: ReplicaId): string;
  phases(id: ReplicaId): string;
  pid(id: ReplicaId): string;
  processLog(id: ReplicaId): string;
  replicaJson(id: ReplicaId): string;
}

export function clusterPaths(dir: string): ClusterPaths {
  const d = path.resolve(dir);
  const keysDir = path.join(d, 'keys');
  const replicasDir = path.join(d, 'replicas');
  const rdir = (id: ReplicaId) => path.join(replicasDir, String(id));
  return {
    dir: d,
    config: path.join(d, 'cluster.json'),
    keysDir,
    operatorKey: path.join(keysDir, 'operator.key'),
    replicasDir,
    replicaKey: (id) => path.join(keysDir, `replica-${id}.key`),
    clientKey: (name) => path.join(keysDir, `client-${name}.key`),
    replicaDir: rdir,
    wal: (id) => path.join(rdir(id), 'wal.jsonl'),
    walDir: (id) => path.join(rdir(id), 'wal'),
    ledgerDir: (id) => path.join(rdir(id), 'ledger'),
    phases: (id) => path.join(rdir(id), 'phases.jsonl'),
    pid: (id) => path.join(rdir(id), 'replica.pid'),
    processLog: (id) => path.join(rdir(id), 'process.log'),
    replicaJson: (id) => path.join(rdir(id), 'replica.json'),
  };
}

// ---------------------------------------------------------------------------------------
// Loading and validation
// ---------------------------------------------------------------------------------------

export interface LoadedCluster {
  /** absolute directory */
  dir: string;
  config: ClusterConfig;
  paths: ClusterPaths;
  params: ProtocolParams;
  scheme: SignatureScheme;
  keyring: Keyring;
}

function formatPath(p: (string | number)[]): string {
  let s = '';
  for (const part of p) s += typeof part === 'number' ? `[${part}]` : s === '' ? part : `.${part}`;
  return s;
}

/** The one-line messages for a zod error, most useful first. */
export function formatConfigIssues(file: string, err: z.ZodError): string[] {
  return err.issues.map((i) => {
    if (i.code === z.ZodIssueCode.unrecognized_keys) {
      const where = i.path.length ? `${formatPath(i.path)} ` : '';
      return `${file}: ${where}has unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}; remove ${i.keys.length > 1 ? 'them' : 'it'} (check the spelling)`;
    }
    const where = i.path.length ? formatPath(i.path) : '(top level)';
    let msg = i.message;
    if (i.code === z.ZodIssueCode.invalid_type && i.received === 'undefined') msg = msg.startsWith('is missing') ? msg : 'is missing';
    else if (i.code === z.ZodIssueCode.invalid_type && i.path.length === 0) msg = 'must be a JSON object';
    return `${file}: ${where} ${msg}`;
  });
}

/** Validate a parsed cluster.json. Throws PbftError CONFIG_INVALID naming the first problem. */
export function validateClusterConfig(raw: unknown, file = 'cluster.json'): ClusterConfig {
  const r = ClusterConfigSchema.safeParse(raw);
  if (r.success) return r.data;
  const lines = formatConfigIssues(file, r.error);
  const more = lines.length > 1 ? ` (and ${lines.length - 1} more problem${lines.length > 2 ? 's' : ''})` : '';
  throw new PbftError('CONFIG_INVALID', lines[0]! + more, { hint: lines.length > 1 ? lines.slice(1).join('\n') : undefined });
}

export function paramsOf(c: ClusterConfig): ProtocolParams {
  const p = c.protocol;
  return {
    n: p.n,
    f: p.f,
    checkpointInterval: p.checkpointInterval,
    logWindow: p.logWindow,
    maxBatchSize: p.maxBatchSize,
    maxInFlight: p.maxInFlight,
    batchHoldMs: p.batchHoldMs ?? Math.min(DEFAULT_BATCH_HOLD_MS, maxBatchHoldMs(p.viewChangeTimeoutMs)),
    viewChangeTimeoutMs: p.viewChangeTimeoutMs,
    maxViewChangeTimeoutMs: p.maxViewChangeTimeoutMs,
    statusIntervalMs: p.statusIntervalMs,
    maxOpBytes: p.maxOpBytes,
  };
}

/** The cluster's signature backend; one this machine cannot load is a clear CONFIG_INVALID. */
function schemeOf(dir: string, name: ClusterSchemeName): SignatureScheme {
  if (name === 'sodium' && !sodiumAvailable())
    throw new PbftError(
      'CONFIG_INVALID',
      `${clusterPaths(dir).config}: crypto "sodium" needs the sodium-native addon, which did not load here (${sodiumLoadError()})`,
      {
        hint: 'set "crypto": "node" in cluster.json (the same keys and signatures work with either backend), or reinstall pbft\'s dependencies',
      },
    );
  return makeScheme(name);
}

export function clusterFromConfig(dir: string, config: ClusterConfig): LoadedCluster {
  const paths = clusterPaths(dir);
  const params = paramsOf(config);
  quorums(params.n, params.f); // validated above; throws only on programming errors
  const clients: Record<string, string> = {};
  for (const c of config.clients) clients[c.id] = c.publicKey;
  return {
    dir: paths.dir,
    config,
    paths,
    params,
    scheme: schemeOf(dir, config.crypto),
    keyring: keyringFor(
      config.replicas.map((r) => r.publicKey),
      clients,
      config.openClients,
      config.name,
    ),
  };
}

const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

/** Read and validate <dir>/cluster.json. */
export async function loadCluster(dir: string): Promise<LoadedCluster> {
  const paths = clusterPaths(dir);
  let text: string;
  try {
    const st = await stat(paths.config);
    if (!st.isFile()) throw new PbftError('CONFIG_INVALID', `${paths.config} is not a file; point --dir (or PBFT_DIR) at a cluster directory`);
    if (st.size > MAX_CONFIG_BYTES) throw new PbftError('CONFIG_INVALID', `${paths.config} is larger than ${MAX_CONFIG_BYTES} bytes; it is not a cluster.json`);
    text = await readFile(paths.config, 'utf8');
  } catch (e) {
    if (e instanceof PbftError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new PbftError(
        'CONFIG_MISSING',
        `no cluster in ${paths.dir} (cluster.json not found); create one with "pbft init --dir ${dir}" or point --dir (or PBFT_DIR) at an existing cluster`,
        { cause: e },
      );
    if (code === 'EACCES' || code === 'EPERM')
      throw new PbftError('CONFIG_INVALID', `cannot read ${paths.config} (${code}); fix its permissions or run pbft as its owner`, { cause: e });
    throw new PbftError('CONFIG_INVALID', `cannot read ${paths.config}: ${describeError(e)}`, { cause: e });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new PbftError(
      'CONFIG_INVALID',
      `cluster.json: not valid JSON (${(e as Error).message}); fix the syntax or recreate the cluster with "pbft init --force"`,
      { cause: e },
    );
  }
  return clusterFromConfig(paths.dir, validateClusterConfig(raw));
}

export function replicaEntry(cluster: LoadedCluster, id: number): ReplicaEntry {
  const r = Number.isSafeInteger(id) ? cluster.config.replicas[id] : undefined;
  if (!r) throw new PbftError('UNKNOWN_REPLICA', `unknown replica ${id}: this cluster has replicas 0-${cluster.config.replicas.length - 1}`);
  return r;
}

/** Parse a replica id given on a command line. */
export function parseReplicaId(s: string, cluster?: LoadedCluster): number {
  if (!/^\d{1,6}$/.test(s.trim())) throw new PbftError('BAD_ARGUMENT', `"${s}" is not a replica id; use a number such as 0`);
  const id = Number(s.trim());
  if (cluster) replicaEntry(cluster, id);
  return id;
}

/** Read replicas/<id>/replica.json if present. */
export async function loadReplicaOverrides(cluster: LoadedCluster, id: ReplicaId): Promise<ReplicaOverrides> {
  return readReplicaOverrides(cluster.paths.replicaJson(id), id);
}

/** Read a replica.json file (replica `id`'s) if present: {} when absent, CONFIG_INVALID when unreadable or invalid. */
export async function readReplicaOverrides(file: string, id: ReplicaId): Promise<ReplicaOverrides> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new PbftError('CONFIG_INVALID', `cannot read ${file}: ${describeError(e)}; fix its permissions or delete it (it is optional)`, { cause: e });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new PbftError('CONFIG_INVALID', `${file}: not valid JSON (${(e as Error).message}); fix the syntax or delete it (it is optional)`, { cause: e });
  }
  const r = ReplicaOverridesSchema.safeParse(raw);
  if (!r.success) throw new PbftError('CONFIG_INVALID', formatConfigIssues(`replicas/${id}/replica.json`, r.error)[0]!);
  return r.data;
}

// ---------------------------------------------------------------------------------------
// Key files
// ---------------------------------------------------------------------------------------

export interface ReadKeyOptions {
  /** called with a one-line warning (e.g. the file is readable by others); default: stderr */
  warn?: (message: string) => void;
}

const defaultWarn = (m: string) => process.stderr.write(`warning: ${m}\n`);

/** Read a hex Ed25519 secret seed from a key file. */
export async function readSecretKey(file: string, o: ReadKeyOptions = {}): Promise<string> {
  let text: string;
  try {
    const st = await stat(file);
    if (!st.isFile())
      throw new PbftError('KEY_MALFORMED', `key file ${file} is not a regular file; restore it from a backup or recreate the cluster with "pbft init --force"`);
    if (st.size > 4096)
      throw new PbftError(
        'KEY_MALFORMED',
        `key file ${file} is too large to be a key (${st.size} bytes); restore it from a backup or recreate the cluster with "pbft init --force"`,
      );
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0)
      (o.warn ?? defaultWarn)(
        `key file ${file} is readable by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); run: chmod 600 ${file}`,
      );
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (e instanceof PbftError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new PbftError('KEY_MISSING', `key file ${file} is missing; restore it from a backup or recreate the cluster with "pbft init --force"`, {
        cause: e,
      });
    if (code === 'EACCES' || code === 'EPERM')
      throw new PbftError('KEY_UNREADABLE', `cannot read key file ${file} (${code}); run pbft as the file's owner or fix it with: chmod 600 ${file}`, {
        cause: e,
      });
    throw new PbftError('KEY_UNREADABLE', `cannot read key file ${file}: ${describeError(e)}`, { cause: e });
  }
  const key = text.trim();
  if (!/^[0-9a-f]{64}$/.test(key))
    throw new PbftError(
      'KEY_MALFORMED',
      `key file ${file} does not hold a 32-byte secret key in lower-case hex (64 characters); restore it from a backup or recreate the cluster with "pbft init --force"`,
    );
  return key;
}

/** Read replica `id`'s secret key and check it against its public key in cluster.json. */
export async function readReplicaSecret(cluster: LoadedCluster, id: ReplicaId, o: ReadKeyOptions = {}): Promise<string> {
  const entry = replicaEntry(cluster, id);
  const file = cluster.paths.replicaKey(id);
  const secret = await readSecretKey(file, o);
  if (cluster.scheme.publicKey(secret) !== entry.publicKey)
    throw new PbftError(
      'KEY_MALFORMED',
      `key file ${file} does not match replicas[${id}].publicKey in cluster.json; restore the right key file or recreate the cluster with "pbft init --force"`,
    );
  return secret;
}

/** Read the operator's secret key and check it against operator.publicKey. */
export async function readOperatorSecret(cluster: LoadedCluster, o: ReadKeyOptions = {}): Promise<string> {
  const file = cluster.paths.operatorKey;
  const secret = await readSecretKey(file, o);
  if (cluster.scheme.publicKey(secret) !== cluster.config.operator.publicKey)
    throw new PbftError(
      'KEY_MALFORMED',
      `key file ${file} does not match operator.publicKey in cluster.json; restore the right key file or recreate the cluster with "pbft init --force"`,
    );
  return secret;
}

/** Read a configured client's secret key and check it against its public key. */
export async function readClientSecret(cluster: LoadedCluster, clientId: string, o: ReadKeyOptions = {}): Promise<string> {
  const entry = cluster.config.clients.find((c) => c.id === clientId);
  if (!entry)
    throw new PbftError(
      'BAD_ARGUMENT',
      `unknown client "${clientId}": cluster.json lists ${cluster.config.clients.length ? cluster.config.clients.map((c) => `"${c.id}"`).join(', ') : 'no clients'}`,
    );
  const file = cluster.paths.clientKey(clientId);
  const secret = await readSecretKey(file, o);
  if (cluster.scheme.publicKey(secret) !== entry.publicKey)
    throw new PbftError(
      'KEY_MALFORMED',
      `key file ${file} does not match the public key of client "${clientId}" in cluster.json; restore the right key file or recreate the cluster with "pbft init --force"`,
    );
  return secret;
}
