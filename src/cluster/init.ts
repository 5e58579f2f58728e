/**
 * `pbft init` as a library call, on top of runtime/init.ts: the cluster directory is checked
 * before anything is written (no /proc, /sys or /dev, a writable directory), free ports are
 * picked unless a base port is given (so that clusters can live side by side), and sizes that
 * waste replicas or tolerate no fault are reported as warnings.
 */
import { existsSync, readdirSync, readFileSync, realpathSync, statSync, statfsSync, accessSync, constants } from 'node:fs';
import path from 'node:path';
import { initCluster, type InitOptions, type InitResult } from '../runtime/init.js';
import { MAX_REPLICAS } from '../runtime/config.js';
import { CliError } from './errors.js';
import { portAvailable } from './processes.js';

// ---------------------------------------------------------------------------------------
// The directory
// ---------------------------------------------------------------------------------------

/** Kernel pseudo file systems (statfs f_type) that cannot hold a cluster. */
const PSEUDO_FS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x73636673, 'securityfs'],
  [0x74726163, 'tracefs'],
  [0xcafe4a11, 'bpf'],
  [0x42494e4d, 'binfmt_misc'],
  [0x6e736673, 'nsfs'],
]);

/** Directory trees of the kernel: /proc, /sys, and /dev except /dev/shm. */
function underKernelTree(p: string): string | null {
  for (const root of ['/proc', '/sys', '/dev']) {
    if (p === root || p.startsWith(`${root}/`)) {
      if (root === '/dev' && (p === '/dev/shm' || p.startsWith('/dev/shm/'))) return null;
      return root;
    }
  }
  return null;
}

function badDir(dir: string, why: string, hint = 'choose a directory on a normal file system, e.g. --dir ./pbft-cluster'): CliError {
  return new CliError('BAD_DIRECTORY', `cannot create a cluster in ${dir}: ${why}`, hint);
}

/**
 * Check, before anything is written, that `dir` can hold a cluster: not under /proc, /sys or
 * /dev (nor a symbolic link into them, nor on a kernel pseudo file system), and its nearest
 * existing ancestor is a directory this process can write in. Throws BAD_DIRECTORY.
 */
export function checkClusterDir(dir: string): void {
  const abs = path.resolve(dir);
  const kernel = underKernelTree(abs);
  if (kernel) throw badDir(abs, `${kernel} belongs to the kernel (a pseudo file system)`);
  let existing = abs;
  while (!existsSync(existing)) {
    const up = path.dirname(existing);
    if (up === existing) break;
    existing = up;
  }
  let real = existing;
  try {
    real = realpathSync(existing);
  } catch {
    /* keep the path as given */
  }
  const kernelReal = underKernelTree(real);
  if (kernelReal) throw badDir(abs, `${existing} leads to ${real}, under ${kernelReal}, which belongs to the kernel`);
  try {
    const fsType = PSEUDO_FS.get(Number(statfsSync(real).type));
    if (fsType) throw badDir(abs, `${real} is on a ${fsType} pseudo file system`);
  } catch (e) {
    if (e instanceof CliError) throw e;
    /* statfs unsupported: the other checks stand */
  }
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(real);
  } catch (e) {
    throw badDir(abs, `cannot look at ${existing} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (!st.isDirectory()) throw badDir(abs, `${existing} is not a directory`, 'choose another --dir');
  try {
    accessSync(real, constants.W_OK | constants.X_OK);
  } catch {
    throw badDir(abs, `${existing} is not writable by this user`, 'choose a directory you can write to');
  }
}

// ---------------------------------------------------------------------------------------
// Sizes
// ---------------------------------------------------------------------------------------

/** n and f as init will use them: n = 3f+1 from --faults, else 4; f = floor((n-1)/3). */
export function clusterSize(o: { replicas?: number; faults?: number }): { n: number; f: number } {
  const n = o.replicas ?? (o.faults !== undefined ? 3 * o.faults + 1 : 4);
  return { n, f: o.faults ?? Math.floor((n - 1) / 3) };
}

/**
 * Warnings for sizes that PBFT uses badly: fewer than 4 replicas tolerate no fault, and any n
 * other than 3f+1 pays for replicas that tolerate nothing more.
 */
export function sizeWarnings(n: number, f: number): string[] {
  const fMax = Math.floor((n - 1) / 3);
  if (fMax === 0) {
    return [
      `${n} replica${n === 1 ? ' tolerates' : 's tolerate'} no faulty replica (f = 0): PBFT needs 4 to tolerate one Byzantine fault (n >= 3f+1); use --replicas 4`,
    ];
  }
  if (n === 3 * f + 1) return [];
  if (f < fMax) {
    return [
      `${n} replicas could tolerate f = ${fMax} faults, but the cluster is set to f = ${f}: quorums of ${2 * f + 1} are easier to reach but the extra replicas add no fault tolerance; use --replicas ${3 * f + 1} for f = ${f}`,
    ];
  }
  const lower = 3 * fMax + 1;
  const higher = 3 * (fMax + 1) + 1;
  return [
    `${n} replicas tolerate f = ${fMax} fault${fMax === 1 ? '' : 's'}, as ${lower} do: the ${n - lower} extra replica${n - lower === 1 ? '' : 's'} cost${n - lower === 1 ? 's' : ''} messages and work without tolerating another fault; use --replicas ${lower}${higher <= MAX_REPLICAS ? ` (or ${higher} for f = ${fMax + 1})` : ''}`,
  ];
}

// ---------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------

/** The kernel's ephemeral port range (outgoing connections take ports from it). */
export function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi) && lo! > 0 && hi! >= lo!) return [lo!, hi!];
  } catch {
    /* not Linux */
  }
  return [32768, 60999];
}

/** The ports of the clusters in the directories next to `dir` (they may start later). */
export function siblingClusterPorts(dir: string): Set<number> {
  const parent = path.dirname(path.resolve(dir));
  const out = new Set<number>();
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return out;
  }
  for (const name of names.slice(0, 1000)) {
    const file = path.join(parent, name, 'cluster.json');
    try {
      const c = JSON.parse(readFileSync(file, 'utf8')) as { replicas?: { id?: unknown; port?: unknown }[] };
      for (const r of c.replicas ?? []) {
        if (typeof r.port === 'number') out.add(r.port);
        // and its metrics port, if replica.json has one
        if (typeof r.id !== 'number') continue;
        try {
          const o = JSON.parse(readFileSync(path.join(parent, name, 'replicas', String(r.id), 'replica.json'), 'utf8')) as { metricsPort?: unknown };
          if (typeof o.metricsPort === 'number') out.add(o.metricsPort);
        } catch {
          /* no overrides */
        }
      }
    } catch {
      /* not a cluster */
    }
  }
  return out;
}

export interface PickPortsOptions {
  host?: string;
  /** ports not to use (other clusters') */
  avoid?: ReadonlySet<number>;
  attempts?: number;
  /** random source (tests) */
  random?: () => number;
}

/**
 * n consecutive free ports on host, outside the kernel's ephemeral range (where outgoing
 * connections would take them) and away from `avoid`. Null when none were found.
 */
export async function pickFreePorts(n: number, o: PickPortsOptions = {}): Promise<number[] | null> {
  const host = o.host ?? '127.0.0.1';
  const random = o.random ?? Math.random;
  const [lo, hi] = ephemeralRange();
  // candidate windows for the base port: 10000 up to the ephemeral range, and above it
  const windows: [number, number][] = [];
  if (lo - n > 10_000) windows.push([10_000, lo - n]);
  if (65535 - n > hi + 1) windows.push([hi + 1, 65535 - n + 1]);
  if (windows.length === 0) windows.push([1024, 65535 - n + 1]);
  const total = windows.reduce((s, [a, b]) => s + (b - a), 0);
  for (let attempt = 0; attempt < (o.attempts ?? 40); attempt++) {
    let x = Math.floor(random() * total);
    let base = windows[0]![0];
    for (const [a, b] of windows) {
      if (x < b - a) {
        base = a + x;
        break;
      }
      x -= b - a;
    }
    const ports = Array.from({ length: n }, (_, i) => base + i);
    if (ports.some((p) => o.avoid?.has(p))) continue;
    let free = true;
    for (const p of ports) {
      if (!(await portAvailable(host, p))) {
        free = false;
        break;
      }
    }
    if (free) return ports;
  }
  return null;
}

// ---------------------------------------------------------------------------------------
// Creating a cluster
// ---------------------------------------------------------------------------------------

export interface CreateClusterOptions extends InitOptions {
  /** random source for the port choice (tests) */
  random?: () => number;
  /** serve Prometheus metrics (default true): replica i on metricsBasePort + i, or free ports */
  metrics?: boolean;
  metricsBasePort?: number;
}

export interface CreateClusterResult extends InitResult {
  /** sizes that waste replicas or tolerate no fault */
  warnings: string[];
  /** how the ports were chosen */
  ports: 'given' | 'base-port' | 'free';
}

/**
 * Check the directory, choose the ports (given, from basePort, or free ones), create the
 * cluster, and report size warnings.
 */
export async function createCluster(o: CreateClusterOptions): Promise<CreateClusterResult> {
  checkClusterDir(o.dir);
  const { n, f } = clusterSize(o);
  const warnings = n >= 1 && n <= MAX_REPLICAS && n >= 3 * f + 1 ? sizeWarnings(n, f) : [];
  let how: CreateClusterResult['ports'] = o.ports ? 'given' : o.basePort !== undefined ? 'base-port' : 'free';
  let opts: InitOptions = o;
  if (how === 'free' && n >= 1 && n <= MAX_REPLICAS) {
    const ports = await pickFreePorts(n, { host: o.host ?? '127.0.0.1', avoid: siblingClusterPorts(o.dir), ...(o.random ? { random: o.random } : {}) });
    if (ports) opts = { ...o, ports };
    else {
      how = 'base-port';
      opts = { ...o, basePort: 7000 };
      warnings.push(`could not find ${n} free ports on ${o.host ?? '127.0.0.1'}; using 7000-${7000 + n - 1} (choose others with --base-port)`);
    }
  }
  if (o.metrics !== false && !o.metricsPorts && n >= 1 && n <= MAX_REPLICAS) {
    if (o.metricsBasePort !== undefined) {
      if (o.metricsBasePort + n - 1 > 65535)
        throw new CliError('BAD_ARGUMENT', `--metrics-base-port ${o.metricsBasePort} leaves no room for ${n} replicas`, 'choose a lower --metrics-base-port');
      opts = { ...opts, metricsPorts: Array.from({ length: n }, (_, i) => o.metricsBasePort! + i) };
    } else {
      const taken = siblingClusterPorts(o.dir);
      for (const p of opts.ports ?? Array.from({ length: n }, (_, i) => (opts.basePort ?? 7000) + i)) taken.add(p);
      const metricsPorts = await pickFreePorts(n, { host: '127.0.0.1', avoid: taken, ...(o.random ? { random: o.random } : {}) });
      if (metricsPorts) opts = { ...opts, metricsPorts };
      else
        warnings.push(`could not find ${n} free ports for metrics; none configured (set metricsPort in replicas/<i>/replica.json, or use --metrics-base-port)`);
    }
  }
  const res = await initCluster(opts);
  return { ...res, warnings, ports: how };
}
