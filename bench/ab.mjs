#!/usr/bin/env node
/**
 * A/B comparison of two builds of pbft with `pbft bench`, in alternating runs so that both
 * share the machine's load (the order flips every round: AB, BA, AB, ...).
 *
 *   node bench/ab.mjs --a /path/to/old/checkout --b . [--clients 1,10,50] [--fsync on,off]
 *                     [--duration 10] [--warmup 5] [--rounds 3] [--replicas 4] [--value-size 16]
 *                     [--connections shared|own] [--json out.json]
 *
 * Each checkout must be built (npm run build). Every run gets a fresh cluster (init, up, bench,
 * down) in a temporary directory, on free loopback ports, with replica.json's fsync set as asked,
 * and --warmup seconds of unmeasured load first (bench/lib.mjs).
 * Reported per configuration: the median over rounds of throughput, p50 and p99 latency, the
 * CPU seconds each replica used (from /proc/<pid>/stat, so it works for any build), the mean
 * batch at the primary (when the build reports it), the load generator's CPU per request (builds
 * that report it), the replicas' peak RSS (sampled, or VmHWM where reported), and the ratio B / A.
 */
import { writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { benchArgs } from './args.mjs';
import { failureSummary, median, runOnce } from './lib.mjs';

const USAGE = `A/B comparison of two builds with pbft bench, in alternating runs.

usage: node bench/ab.mjs --a OLD_CHECKOUT --b NEW_CHECKOUT [--clients 1,10,50] [--fsync on,off]
                         [--duration 10] [--warmup 5] [--rounds 3] [--replicas 4] [--value-size 16]
                         [--connections shared|own] [--json out.json]

Each checkout must be built (npm run build); --a and --b default to the current directory.`;
const a = benchArgs(USAGE, {
  a: { kind: 'string', default: '.' },
  b: { kind: 'string', default: '.' },
  clients: { kind: 'counts', default: [1, 10, 50] },
  fsync: { kind: 'choices', of: ['on', 'off'], default: ['on', 'off'] },
  duration: { kind: 'seconds', default: 10 },
  warmup: { kind: 'seconds', default: 5 },
  rounds: { kind: 'count', default: 3 },
  replicas: { kind: 'count', default: 4 },
  'value-size': { kind: 'count', default: 16 },
  connections: { kind: 'choice', of: ['shared', 'own'], default: '' },
  json: { kind: 'string', default: '' },
});
const A = path.resolve(a.a);
const B = path.resolve(a.b);
const clientsList = a.clients;
const fsyncList = a.fsync;
const duration = a.duration;
const warmup = a.warmup;
const rounds = a.rounds;
const replicas = a.replicas;
const valueSize = a['value-size'];
const jsonOut = a.json;
// how the bench's clients connect (builds without the choice use their own connections)
const connections = a.connections;
const log = (s) => writeSync(2, `${s}\n`);

const results = [];
for (let round = 0; round < rounds; round++) {
  for (const clients of clientsList) {
    for (const fsync of fsyncList) {
      const order =
        round % 2 === 0
          ? [
              ['A', A],
              ['B', B],
            ]
          : [
              ['B', B],
              ['A', A],
            ];
      for (const [name, build] of order) {
        const t0 = Date.now();
        try {
          const r = await runOnce(build, { replicas, clients, fsync, duration, warmup, valueSize, ...(connections ? { connections } : {}) });
          results.push({ round, clients, fsync, build: name, ...r });
          log(
            `round ${round + 1}/${rounds}  ${name}  clients ${clients}  fsync ${fsync}: ${r.throughput.toFixed(0)} req/s  p50 ${r.p50.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms  cpu ${r.cpu.map((c) => c.toFixed(1)).join('/')} s${r.meanBatch !== null ? `  batch ${r.meanBatch.toFixed(2)}` : ''}  (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
          );
        } catch (e) {
          log(`round ${round + 1}  ${name}  clients ${clients}  fsync ${fsync}: FAILED ${failureSummary(e)}`);
          results.push({ round, clients, fsync, build: name, failed: e.message });
        }
      }
    }
  }
}

const rows = [];
for (const clients of clientsList) {
  for (const fsync of fsyncList) {
    const pick = (b) => results.filter((r) => r.build === b && r.clients === clients && r.fsync === fsync && !r.failed);
    const s = (b) => {
      const rs = pick(b);
      return {
        throughput: median(rs.map((r) => r.throughput)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        cpuPrimary: median(rs.map((r) => r.cpu[0])),
        cpuTotal: median(rs.map((r) => r.cpu.reduce((x, y) => x + y, 0))),
        // CPU milliseconds (all replicas) per completed request: less sensitive to the machine's load
        cpuPerReq: median(rs.map((r) => r.cpuPerReq)),
        meanBatch: median(rs.map((r) => r.meanBatch ?? NaN)),
        // the load generator's CPU ms per request (builds that report it) and the replicas' peak RSS
        genCpuPerReq: median(rs.map((r) => r.genCpuPerReq ?? NaN)),
        peakRssMb: Math.max(...rs.map((r) => Math.max(r.peakRss, r.peakRssHwm ?? 0) / 1048576)),
        runs: rs.length,
      };
    };
    const a = s('A');
    const b = s('B');
    rows.push({ clients, fsync, A: a, B: b });
  }
}
const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
console.log(
  `A = ${A}\nB = ${B}\n${rounds} alternating rounds of ${duration} s after a ${warmup} s warm-up, n = ${replicas}, ${valueSize}-byte values; medians; CPU = seconds per run (r0 = primary, and all replicas)\n`,
);
console.log(
  '| clients | fsync | A req/s | B req/s | B/A | A p50 ms | B p50 ms | A p99 ms | B p99 ms | A CPU s r0 / all | B CPU s r0 / all | A CPU ms/req | B CPU ms/req | B/A | B batch | load gen ms/req A / B | peak RSS MB A / B |',
);
console.log('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.clients} | ${r.fsync} | ${f(r.A.throughput)} | ${f(r.B.throughput)} | ${f(r.B.throughput / r.A.throughput, 2)} | ${f(r.A.p50, 1)} | ${f(r.B.p50, 1)} | ${f(r.A.p99, 1)} | ${f(r.B.p99, 1)} | ${f(r.A.cpuPrimary, 1)} / ${f(r.A.cpuTotal, 1)} | ${f(r.B.cpuPrimary, 1)} / ${f(r.B.cpuTotal, 1)} | ${f(r.A.cpuPerReq, 2)} | ${f(r.B.cpuPerReq, 2)} | ${f(r.B.cpuPerReq / r.A.cpuPerReq, 2)} | ${f(r.B.meanBatch, 2)} | ${f(r.A.genCpuPerReq, 2)} / ${f(r.B.genCpuPerReq, 2)} | ${f(r.A.peakRssMb)} / ${f(r.B.peakRssMb)} |`,
  );
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ A, B, duration, rounds, replicas, valueSize, results, rows }, null, 2));
