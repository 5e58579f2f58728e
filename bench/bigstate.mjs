#!/usr/bin/env node
/**
 * A/B of two builds with a large replicated state: one client on a cluster whose key-value store
 * already holds about 51,200 keys, in alternating runs (AB, BA, ...).
 *
 *   node bench/bigstate.mjs --a /path/to/old/checkout --b . [--rounds 2] [--fill 24]
 *                           [--duration 10] [--warmup 3] [--fsync off|on]
 *
 * Each run (bench/lib.mjs runOnce): a fresh cluster on free loopback ports, replica.json's fsync
 * as asked; `pbft bench --clients 50 --duration FILL --warmup 0` to fill the store (50 clients write 1,024
 * keys each, so about 21 s at 2,400 req/s reach all 51,200); then the measured
 * `pbft bench --clients 1 --warmup W --duration D`; down; the directory removed. Reported per
 * build: the median over rounds of throughput, p50, p99 and max latency, and the replicas' CPU
 * per request (what each build's bench reports for the measured window). Full checkpoints write
 * the whole state every logWindow seqs, so this is where their cost shows (the p99).
 */
import { writeSync } from 'node:fs';
import path from 'node:path';
import { median, runOnce } from './lib.mjs';
import { benchArgs } from './args.mjs';

const USAGE = `A/B of two builds at one client on a store of about 51,200 keys, in alternating runs.

usage: node bench/bigstate.mjs --a OLD_CHECKOUT --b NEW_CHECKOUT [--rounds 2] [--fill 24]
                               [--duration 10] [--warmup 3] [--fsync off|on]

Each checkout must be built (npm run build); --a and --b default to the current directory.`;
const a = benchArgs(USAGE, {
  a: { kind: 'string', default: '.' },
  b: { kind: 'string', default: '.' },
  rounds: { kind: 'count', default: 2 },
  fill: { kind: 'seconds', default: 24 },
  duration: { kind: 'seconds', default: 10 },
  warmup: { kind: 'seconds', default: 3 },
  fsync: { kind: 'choice', of: ['on', 'off'], default: 'off' },
});
const builds = { A: path.resolve(a.a), B: path.resolve(a.b) };
const rounds = a.rounds;
const fill = a.fill;
const duration = a.duration;
const warmup = a.warmup;
const fsync = a.fsync;
const log = (s) => writeSync(2, `${s}\n`);

const runs = [];
for (let r = 0; r < rounds; r++) {
  for (const k of r % 2 ? ['B', 'A'] : ['A', 'B']) {
    const x = { k, ...(await runOnce(builds[k], { replicas: 4, clients: 1, fsync, duration, warmup, prefill: { clients: 50, duration: fill } })) };
    runs.push(x);
    log(
      `round ${r + 1}/${rounds}  ${k}: ${x.throughput.toFixed(0)} req/s  p50 ${x.p50.toFixed(2)} ms  p99 ${x.p99.toFixed(1)} ms  max ${x.max.toFixed(1)} ms  CPU ${x.cpuPerReq.toFixed(2)} ms/req  (${x.prefilled} puts before)`,
    );
  }
}
const med = (k, f) => median(runs.filter((x) => x.k === k).map(f));
console.log(`A = ${builds.A}\nB = ${builds.B}\n${rounds} alternating rounds, one client after ${fill} s of 50 clients, fsync ${fsync}; medians\n`);
console.log('| build | req/s | p50 ms | p99 ms | max ms | replica CPU ms/req |\n|---|---:|---:|---:|---:|---:|');
for (const k of ['A', 'B'])
  console.log(
    `| ${k} | ${med(k, (x) => x.throughput).toFixed(0)} | ${med(k, (x) => x.p50).toFixed(2)} | ${med(k, (x) => x.p99).toFixed(1)} | ${med(k, (x) => x.max).toFixed(1)} | ${med(k, (x) => x.cpuPerReq).toFixed(2)} |`,
  );
