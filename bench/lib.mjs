/**
 * Shared by the bench/ scripts: run `pbft bench` on a fresh local cluster of one build.
 *
 * Each run: init in a temporary directory on free loopback ports, replica.json's fsync as asked,
 * up, an unmeasured warm-up, the measured bench, down, and the directory removed. CPU seconds
 * per replica come from /proc/<pid>/stat around the measured window (so they work for builds
 * whose bench does not report them); peak RSS is sampled from /proc/<pid>/status while it runs.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export async function freeBase(n) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 40000);
    const ok = await Promise.all(
      Array.from(
        { length: n },
        (_, i) =>
          new Promise((resolve) => {
            const s = createServer();
            s.once('error', () => resolve(false));
            s.listen(base + i, '127.0.0.1', () => s.close(() => resolve(true)));
          }),
      ),
    );
    if (ok.every(Boolean)) return base;
  }
  throw new Error('no free ports');
}

/** A failed run in one line: the first line of the error says what failed, the last ones why. */
export function failureSummary(e) {
  const lines = String(e?.message ?? e)
    .split('\n')
    .filter((l) => l.trim() !== '');
  return [lines[0], ...lines.slice(1).slice(-3)].join(' | ');
}

/** user + system CPU seconds of a process (NaN once it is gone) */
export function cpuOf(pid) {
  try {
    const t = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** resident set size in bytes (NaN once it is gone) */
export function rssOf(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

const helpCache = new Map();
/** This build's `pbft bench --help` */
function benchHelp(bin) {
  if (!helpCache.has(bin)) {
    const r = spawnSync(process.execPath, [bin, 'bench', '--help'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    helpCache.set(bin, r.stdout);
  }
  return helpCache.get(bin);
}
/** Does this build's `pbft bench` take --warmup? (older builds do not) */
function hasWarmupFlag(bin) {
  return benchHelp(bin).includes('--warmup');
}
/** Does this build's `pbft bench` take --connections? (older builds do not: their clients have their own) */
function hasConnectionsFlag(bin) {
  return benchHelp(bin).includes('--connections');
}

export const median = (xs) => {
  const a = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q);
  if (a.length === 0) return NaN;
  return a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
};

/**
 * One bench run on a fresh cluster of `build` (a built checkout).
 * o: { replicas, clients, fsync: 'on'|'off', duration (s), warmup (s), valueSize, rssEveryMs,
 *      connections ('shared'|'own': how the bench's clients connect, for builds that have the choice),
 *      protocol (cluster.json protocol overrides, e.g. { maxInFlight: 2 }),
 *      prefill ({ clients, duration }: an unmeasured bench first, e.g. to fill the store) }
 */
export async function runOnce(build, o) {
  const bin = path.join(build, 'bin', 'run.js');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pbft-bench-'));
  const env = { ...process.env, NO_COLOR: '1', CI: '1' };
  const pbft = (args) => spawnSync(process.execPath, [bin, ...args, '--dir', dir], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const benchArgs = (duration) => [
    'bench',
    '--clients',
    String(o.clients),
    '--duration',
    String(duration),
    '--value-size',
    String(o.valueSize ?? 16),
    '--json',
    ...(o.connections && hasConnectionsFlag(bin) ? ['--connections', o.connections] : []),
  ];
  try {
    const base = await freeBase(o.replicas);
    let r = pbft(['init', '--replicas', String(o.replicas), '--base-port', String(base), '--yes']);
    if (r.status !== 0) throw new Error(`init: ${r.stderr}`);
    if (o.protocol) {
      // protocol overrides (e.g. { maxBatchSize: 64 }) written into cluster.json before `up`
      const cf = path.join(dir, 'cluster.json');
      const c = JSON.parse(readFileSync(cf, 'utf8'));
      Object.assign(c.protocol, o.protocol);
      writeFileSync(cf, JSON.stringify(c, null, 2));
    }
    for (let i = 0; i < o.replicas; i++) {
      const f = path.join(dir, 'replicas', String(i), 'replica.json');
      let j = {};
      try {
        j = JSON.parse(readFileSync(f, 'utf8'));
      } catch {
        /* none */
      }
      j.fsync = o.fsync === 'on';
      // replica.json overrides (e.g. { phaseLog: false }) for every replica
      if (o.replicaJson) Object.assign(j, o.replicaJson);
      writeFileSync(f, JSON.stringify(j, null, 2));
    }
    r = pbft(['up']);
    if (r.status !== 0) throw new Error(`up: ${r.stderr}${r.stdout}`);
    const pids = Array.from({ length: o.replicas }, (_, i) => Number(readFileSync(path.join(dir, 'replicas', String(i), 'replica.pid'), 'utf8').trim()));
    let prefilled = null;
    if (o.prefill) {
      r = pbft([
        'bench',
        '--clients',
        String(o.prefill.clients),
        '--duration',
        String(o.prefill.duration),
        '--json',
        ...(hasWarmupFlag(bin) ? ['--warmup', '0'] : []),
      ]);
      if (r.status !== 0) throw new Error(`prefill: ${r.stderr}`);
      prefilled = JSON.parse(r.stdout).completed;
    }
    const warmup = o.warmup ?? 0;
    // the same warm-up for every build: a separate unmeasured run where --warmup does not exist
    const inline = hasWarmupFlag(bin);
    if (warmup > 0 && !inline) {
      r = pbft(benchArgs(warmup));
      if (r.status !== 0) throw new Error(`warm-up: ${r.stderr}`);
    }
    const args = benchArgs(o.duration);
    if (inline) args.push('--warmup', String(warmup));
    // sample RSS while the bench runs (and CPU at the edges of its measured window)
    const rss = pids.map(() => []);
    const sample = () => pids.forEach((p, i) => rss[i].push(rssOf(p)));
    const timer = setInterval(sample, o.rssEveryMs ?? 1000);
    let cpu0 = pids.map(cpuOf);
    const started = Date.now();
    // with an inline warm-up, CPU is read again when the measured window opens
    const reread = inline && warmup > 0 ? setTimeout(() => (cpu0 = pids.map(cpuOf)), warmup * 1000) : null;
    const out = await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [bin, ...args, '--dir', dir], { env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve({ stdout, stderr }) : reject(new Error(`bench: exit ${code}: ${stderr}`))));
    });
    clearInterval(timer);
    if (reread) clearTimeout(reread);
    sample();
    const cpu1 = pids.map(cpuOf);
    const res = JSON.parse(out.stdout);
    // the build's own per-window CPU figure when it has one (exact window), else /proc
    const own = Array.isArray(res.replicaCpuSeconds) && res.replicaCpuSeconds.length === pids.length ? res.replicaCpuSeconds.map((c) => c.seconds) : [];
    const cpu = own.length > 0 && own.every((c) => Number.isFinite(c) && c > 0) ? own : cpu1.map((c, i) => c - cpu0[i]);
    return {
      throughput: res.throughput,
      p50: res.latency.p50Ms,
      p99: res.latency.p99Ms,
      max: res.latency.maxMs,
      prefilled,
      completed: res.completed,
      errors: res.errors,
      meanBatch: res.meanBatchSize ?? null,
      cpu,
      cpuPerReq: (1000 * cpu.reduce((x, y) => x + y, 0)) / Math.max(1, res.completed),
      // the load generator's own CPU in the window, per request (ms; null: older builds)
      genCpuPerReq: typeof res.loadGeneratorCpuSeconds === 'number' ? (1000 * res.loadGeneratorCpuSeconds) / Math.max(1, res.completed) : null,
      rssSeries: rss,
      peakRss: Math.max(...rss.flat().filter(Number.isFinite)),
      // the kernel's high-water mark (VmHWM, since each replica started, warm-up included) as
      // the bench read it at its end: catches peaks between samples (null: older builds)
      peakRssHwm: Array.isArray(res.replicaMemory) && res.replicaMemory.length > 0 ? Math.max(...res.replicaMemory.map((m) => m.peakRssBytes)) : null,
      wallMs: Date.now() - started,
      warnings: (out.stderr.match(/Warning/g) ?? []).length,
    };
  } finally {
    spawnSync(process.execPath, [bin, 'down', '--dir', dir], { env, encoding: 'utf8' });
    rmSync(dir, { recursive: true, force: true });
  }
}
