#!/usr/bin/env node
// Fail-over time: from the SIGKILL of the primary to the first request completed after it, with
// the DEFAULT timeouts of templates/cluster.json (viewChangeTimeoutMs, clientRetransmitMs), on a
// fresh 4-replica cluster on 127.0.0.1 per run. A request is sent right after the crash.
// Also reported, from the phase logs: crash -> first view-change, crash -> new primary in the view.
//
// Run after `npm run build`: node bench/failover.mjs [runs=7] [replicas=4] [--json]
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCluster } from '../dist/runtime/init.js';
import { PbftClient } from '../dist/runtime/client.js';
import { freePorts } from '../dist/cluster/demo.js';
import { upCluster, upFailure, downCluster } from '../dist/cluster/lifecycle.js';
import { injectFault } from '../dist/cluster/faults.js';
import { resolvePrimary } from '../dist/cluster/fault-primary.js';
import { benchArgs, usageError } from './args.mjs';

const USAGE = `Fail-over time: SIGKILL of the primary to the first request completed after it, with the
default timeouts, on a fresh cluster per run.

usage: node bench/failover.mjs [runs 1-100, default 7] [replicas 4-16, default 4] [--json]`;
const opts = benchArgs(USAGE, { json: { kind: 'flag' } }, { positionals: true });
const args = opts.positionals;
const json = opts.json;
const runs = Number(args[0] ?? 7);
const n = Number(args[1] ?? 4);
if (
  args.length > 2 ||
  !args.every((a) => /^\d+$/.test(a)) ||
  !(Number.isInteger(runs) && runs >= 1 && runs <= 100) ||
  !(Number.isInteger(n) && n >= 4 && n <= 16)
)
  usageError(USAGE, `expected [runs 1-100] [replicas 4-16]: ${JSON.stringify(args.join(' '))}`);

async function phaseRecords(cluster) {
  const out = [];
  for (const r of cluster.config.replicas) {
    let text = '';
    try {
      text = await readFile(cluster.paths.phases(r.id), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      try {
        if (line) out.push(JSON.parse(line));
      } catch {
        /* torn line */
      }
    }
  }
  return out;
}

async function once() {
  const dir = await mkdtemp(join(tmpdir(), 'pbft-failover-'));
  let cluster;
  let client;
  try {
    ({ cluster } = await initCluster({ dir, replicas: n, ports: await freePorts(n) }));
    const up = await upCluster(cluster, { readyTimeoutMs: 30_000 });
    const failure = upFailure(cluster, up);
    if (failure) throw failure;
    client = await PbftClient.connect(cluster);
    await client.waitConnected(n, { timeoutMs: 5000 });
    for (let i = 0; i < 5; i++) await client.request(JSON.stringify({ op: 'put', key: `warm${i}`, value: 'x' }), { timeoutMs: 10_000 });
    const { primary, view } = await resolvePrimary(cluster);
    const t0 = performance.now();
    const wall0 = Date.now();
    await injectFault(cluster, { target: primary, action: 'crash' });
    const r = await client.request(JSON.stringify({ op: 'put', key: 'after-crash', value: 'y' }), { timeoutMs: 60_000 });
    const ms = performance.now() - t0;
    const recs = (await phaseRecords(cluster)).filter((x) => x.ts >= wall0);
    const firstVc = recs
      .filter((x) => x.phase === 'view-change')
      .map((x) => x.ts)
      .sort((a, b) => a - b)[0];
    const entered = recs
      .filter((x) => x.phase === 'enter-view' && x.view > view && x.replica === r.view % n)
      .map((x) => x.ts)
      .sort((a, b) => a - b)[0];
    return {
      ms,
      oldView: view,
      newView: r.view,
      viewChangeMs: firstVc !== undefined ? firstVc - wall0 : null,
      newPrimaryMs: entered !== undefined ? entered - wall0 : null,
      params: cluster.params,
      retransmitMs: cluster.config.runtime.clientRetransmitMs,
    };
  } finally {
    client?.close();
    if (cluster) await downCluster(dir, n, { graceMs: 2000 }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const results = [];
for (let i = 0; i < runs; i++) {
  const r = await once();
  results.push(r);
  if (!json)
    process.stdout.write(
      `run ${i + 1}/${runs}: ${Math.round(r.ms)} ms to the first completed request (view ${r.oldView} -> ${r.newView}; first view-change at +${r.viewChangeMs} ms, new primary in the view at +${r.newPrimaryMs} ms)\n`,
    );
}
const ms = results.map((r) => r.ms);
const summary = {
  runs,
  n,
  viewChangeTimeoutMs: results[0].params.viewChangeTimeoutMs,
  clientRetransmitMs: results[0].retransmitMs,
  medianMs: Math.round(median(ms)),
  minMs: Math.round(Math.min(...ms)),
  maxMs: Math.round(Math.max(...ms)),
  medianViewChangeMs: median(results.map((r) => r.viewChangeMs ?? NaN)),
  medianNewPrimaryMs: median(results.map((r) => r.newPrimaryMs ?? NaN)),
  runsMs: ms.map(Math.round),
};
if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
else
  process.stdout.write(
    `\nprimary crash -> first completed request, n = ${n}, viewChangeTimeoutMs ${summary.viewChangeTimeoutMs}, clientRetransmitMs ${summary.clientRetransmitMs}: ` +
      `median ${summary.medianMs} ms (min ${summary.minMs}, max ${summary.maxMs}) over ${runs} runs; ` +
      `median crash -> first view-change ${summary.medianViewChangeMs} ms, -> new primary in view ${summary.medianNewPrimaryMs} ms\n`,
  );
