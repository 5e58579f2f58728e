/**
 * `pbft init` as a library call: keys, cluster.json and a directory per replica.
 *
 * Secret keys are written with mode 0600 in a 0700 directory, every file atomically (temp file,
 * fsync, rename). An existing cluster is never touched without `force`, and not even then while
 * one of its replicas is running.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { type ClusterSchemeName, defaultClusterScheme, makeScheme, randomSecretKey, sodiumAvailable } from '../crypto/index.js';
import { sodiumLoadError } from '../crypto/sodium.js';
import { maxBatchHoldMs } from '../core/replica.js';
import { PbftError, describeError } from '../errors.js';
import { clusterFromConfig, clusterPaths, validateClusterConfig, MAX_REPLICAS, type ClusterConfig, type LoadedCluster } from './config.js';
import { fsyncDir, isProcessAlive, writeFileAtomicSync } from './fsutil.js';

export interface InitOptions {
  dir: string;
  /** number of replicas n (default 4, or 3f+1 when only `faults` is given) */
  replicas?: number;
  /** faults tolerated f (default floor((n-1)/3)) */
  faults?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** replica i listens on basePort + i (default 7000) */
  basePort?: number;
  /** explicit ports, one per replica (overrides basePort; used by tests with free ports) */
  ports?: number[];
  /** number of configured clients client0..client<C-1> (default 1) */
  clients?: number;
  /** replace an existing cluster (its keys and data are deleted) */
  force?: boolean;
  /** signature backend (default: `sodium` where its addon loads, else `node`) */
  crypto?: ClusterSchemeName;
  /** accept fault commands (default true) */
  faultInjection?: boolean;
  /** accept self-certifying client ids pk:<hex> (default true) */
  openClients?: boolean;
  name?: string;
  /** protocol parameter overrides */
  protocol?: Partial<ClusterConfig['protocol']>;
  /** runtime parameter overrides */
  runtime?: Partial<ClusterConfig['runtime']>;
  /** metrics ports, one per replica (replica.json metricsPort); absent: no metrics server */
  metricsPorts?: number[];
}

export interface InitResult {
  dir: string;
  config: ClusterConfig;
  cluster: LoadedCluster;
  /** every file written, absolute */
  files: string[];
  /** an existing cluster was replaced (force) */
  replaced: boolean;
  /** each replica's metrics port (replica.json metricsPort), when configured */
  metricsPorts?: number[];
}

export const TEMPLATES_DIR = fileURLToPath(new URL('../../templates/', import.meta.url));

export function readTemplate(name: 'cluster.json' | 'replica.json'): Record<string, unknown> {
  const file = path.join(TEMPLATES_DIR, name);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new PbftError('IO', `cannot read the template ${file}: ${describeError(e)}; reinstall pbft`, { cause: e });
  }
}

function checkInt(v: number | undefined, flag: string, min: number, max: number): void {
  if (v !== undefined && (!Number.isSafeInteger(v) || v < min || v > max))
    throw new PbftError('BAD_ARGUMENT', `${flag} must be an integer ${min}-${max}, got ${v}`);
}

function pidsRunning(cluster: { paths: ReturnType<typeof clusterPaths> }, n: number): number[] {
  const running: number[] = [];
  for (let i = 0; i < n; i++) {
    try {
      const pid = Number(readFileSync(cluster.paths.pid(i), 'utf8').trim());
      if (isProcessAlive(pid)) running.push(i);
    } catch {
      /* no pid file */
    }
  }
  return running;
}

export async function initCluster(o: InitOptions): Promise<InitResult> {
  checkInt(o.replicas, '--replicas', 1, MAX_REPLICAS);
  checkInt(o.faults, '--faults', 0, Math.floor((MAX_REPLICAS - 1) / 3));
  checkInt(o.clients, '--clients', 0, 10_000);
  checkInt(o.basePort, '--base-port', 1, 65535);
  const f0 = o.faults;
  const n = o.replicas ?? (f0 !== undefined ? 3 * f0 + 1 : 4);
  const f = f0 ?? Math.floor((n - 1) / 3);
  if (n < 3 * f + 1)
    throw new PbftError(
      'BAD_ARGUMENT',
      `--faults ${f} needs at least ${3 * f + 1} replicas (PBFT needs n >= 3f+1); use --replicas ${3 * f + 1} or fewer faults`,
    );
  const host = o.host ?? '127.0.0.1';
  if (!/^[A-Za-z0-9.:_-]{1,253}$/.test(host)) throw new PbftError('BAD_ARGUMENT', `--host "${host}" is not a host name or IP address`);
  if (o.metricsPorts) {
    if (o.metricsPorts.length !== n) throw new PbftError('BAD_ARGUMENT', `metricsPorts lists ${o.metricsPorts.length} ports for ${n} replicas`);
    o.metricsPorts.forEach((p, i) => checkInt(p, `metricsPorts[${i}]`, 1, 65535));
  }
  let ports: number[];
  if (o.ports) {
    if (o.ports.length !== n) throw new PbftError('BAD_ARGUMENT', `ports lists ${o.ports.length} ports for ${n} replicas`);
    o.ports.forEach((p, i) => checkInt(p, `ports[${i}]`, 1, 65535));
    ports = o.ports;
  } else {
    const base = o.basePort ?? 7000;
    if (base + n - 1 > 65535)
      throw new PbftError('BAD_ARGUMENT', `--base-port ${base} leaves no room for ${n} replicas (ports up to ${base + n - 1}); use a lower base port`);
    ports = Array.from({ length: n }, (_, i) => base + i);
  }
  const nClients = o.clients ?? 1;

  const paths = clusterPaths(o.dir);
  let replaced = false;
  if (existsSync(paths.config)) {
    if (!o.force)
      throw new PbftError(
        'CLUSTER_EXISTS',
        `${paths.dir} already holds a cluster; pass --force to replace it (this deletes its keys and data) or choose another --dir`,
      );
    let oldN = MAX_REPLICAS;
    try {
      const old = JSON.parse(readFileSync(paths.config, 'utf8')) as { replicas?: unknown[] };
      if (Array.isArray(old.replicas)) oldN = Math.min(old.replicas.length, MAX_REPLICAS);
    } catch {
      /* unreadable old config: scan every possible id */
    }
    const running = pidsRunning({ paths }, oldN);
    if (running.length)
      throw new PbftError(
        'REPLICA_RUNNING',
        `replica${running.length > 1 ? 's' : ''} ${running.join(', ')} of the cluster in ${paths.dir} ${running.length > 1 ? 'are' : 'is'} still running; stop ${running.length > 1 ? 'them' : 'it'} first with "pbft down --dir ${o.dir}"`,
      );
    replaced = true;
  }

  const template = readTemplate('cluster.json') as unknown as ClusterConfig;
  const replicaTemplate = readTemplate('replica.json');
  if (o.crypto === 'sodium' && !sodiumAvailable())
    throw new PbftError('BAD_ARGUMENT', `--crypto sodium needs the sodium-native addon, which did not load here (${sodiumLoadError()})`, {
      hint: 'use --crypto node',
    });
  // the template names a backend; sodium where the addon cannot load becomes node (same keys, same signatures)
  const fromTemplate = (template.crypto as ClusterSchemeName | undefined) ?? defaultClusterScheme();
  const scheme = makeScheme(o.crypto ?? (fromTemplate === 'sodium' && !sodiumAvailable() ? 'node' : fromTemplate));

  const replicaSecrets = Array.from({ length: n }, () => randomSecretKey());
  const clientSecrets = Array.from({ length: nClients }, () => randomSecretKey());
  const operatorSecret = randomSecretKey();

  const protocol = { ...template.protocol, n, f, ...o.protocol };
  // the template's batch hold, unless asked for, stays within a quarter of a shorter view-change timeout
  if (o.protocol?.batchHoldMs === undefined && protocol.batchHoldMs !== undefined)
    protocol.batchHoldMs = Math.min(protocol.batchHoldMs, maxBatchHoldMs(protocol.viewChangeTimeoutMs));
  const config: ClusterConfig = {
    version: 1,
    name: o.name ?? template.name ?? 'pbft-cluster',
    protocol,
    crypto: scheme.name as ClusterSchemeName,
    replicas: replicaSecrets.map((s, i) => ({ id: i, host, port: ports[i]!, publicKey: scheme.publicKey(s) })),
    clients: clientSecrets.map((s, i) => ({ id: `client${i}`, publicKey: scheme.publicKey(s) })),
    openClients: o.openClients ?? template.openClients ?? true,
    operator: { publicKey: scheme.publicKey(operatorSecret) },
    faultInjection: o.faultInjection ?? template.faultInjection ?? true,
    runtime: { ...template.runtime, ...o.runtime },
  };
  // What init writes must load; a bad override is reported like a bad flag.
  try {
    validateClusterConfig(config);
  } catch (e) {
    if (e instanceof PbftError) throw new PbftError('BAD_ARGUMENT', `the requested cluster is invalid: ${e.message}`);
    throw e;
  }

  const files: string[] = [];
  try {
    if (replaced) {
      rmSync(paths.config, { force: true });
      rmSync(paths.keysDir, { recursive: true, force: true });
      rmSync(paths.replicasDir, { recursive: true, force: true });
    }
    mkdirSync(paths.dir, { recursive: true });
    mkdirSync(paths.keysDir, { recursive: true, mode: 0o700 });
    chmodSync(paths.keysDir, 0o700);
    mkdirSync(paths.replicasDir, { recursive: true, mode: 0o700 });
    const writeKey = (file: string, secret: string) => {
      writeFileAtomicSync(file, `${secret}\n`, 0o600);
      chmodSync(file, 0o600); // in case of a restrictive-umask-independent platform quirk
      files.push(file);
    };
    replicaSecrets.forEach((s, i) => writeKey(paths.replicaKey(i), s));
    clientSecrets.forEach((s, i) => writeKey(paths.clientKey(`client${i}`), s));
    writeKey(paths.operatorKey, operatorSecret);
    for (let i = 0; i < n; i++) {
      mkdirSync(paths.replicaDir(i), { recursive: true, mode: 0o700 });
      const rj = paths.replicaJson(i);
      const overrides = o.metricsPorts ? { ...replicaTemplate, metricsPort: o.metricsPorts[i] } : replicaTemplate;
      writeFileAtomicSync(rj, `${JSON.stringify(overrides, null, 2)}\n`, 0o644);
      files.push(rj);
    }
    fsyncDir(paths.replicasDir);
    writeFileAtomicSync(paths.config, `${JSON.stringify(config, null, 2)}\n`, 0o644);
    files.push(paths.config);
  } catch (e) {
    if (e instanceof PbftError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new PbftError(
      'IO',
      `cannot create the cluster in ${paths.dir}: ${describeError(e)}${code === 'EACCES' || code === 'EPERM' ? '; choose a directory you can write to' : ''}`,
      { cause: e },
    );
  }
  return {
    dir: paths.dir,
    config,
    cluster: clusterFromConfig(paths.dir, config),
    files,
    replaced,
    ...(o.metricsPorts ? { metricsPorts: o.metricsPorts } : {}),
  };
}
