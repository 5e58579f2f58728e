#!/usr/bin/env node
/**
 * The replicas' per-request CPU cost in one process, without sockets, disks or a scheduler:
 * n runtime nodes (ReplicaNode.simulated: the same loop, group commit, coalesced frames and
 * core as a replica process) and closed-loop clients (ClientCore), real Ed25519 (libsodium)
 * and HMAC-SHA256 session MACs, every message serialized to the frames a replica process
 * sends and parsed back. Virtual time: a hop takes --hop-us, a durable-log write --disk-us
 * (its frame is encoded, then dropped); the primary's batch hold runs on the same clock.
 *
 * What it leaves out, against `pbft bench` on a cluster: WebSocket framing and syscalls, the
 * audit ledger, the phase log's file writes (its lines are encoded), the clients' session
 * handshakes. What it buys: a CPU profile with no other process and no descheduling in it, so
 * `node --cpu-prof bench/hotpath.mjs` shows where a request's CPU goes, function by function.
 *
 *   node bench/hotpath.mjs [--replicas 4] [--clients 50] [--requests 20000] [--warmup 5000]
 *                          [--hop-us 100] [--disk-us 50] [--value-size 16] [--json] [--profile F]
 *
 * Needs a build (npm run build): it imports dist/.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { KvStore, encodeKvOp } from '../dist/app/kv.js';
import { CorruptibleApp } from '../dist/byzantine/index.js';
import { ClientCore } from '../dist/core/client.js';
import { defaultParams } from '../dist/core/replica.js';
import { KeyedAuthenticator, SodiumEd25519, keyringFor } from '../dist/crypto/index.js';
import { encodePhaseLine } from '../dist/phaselog/record.js';
import { makeByzantine } from '../dist/runtime/byzantine-hook.js';
import { ReplicaNode } from '../dist/runtime/replica-node.js';
import { recordsJson } from '../dist/runtime/record-json.js';
import { encodeFrameJson } from '../dist/runtime/storage.js';
import { EventQueue } from '../dist/sim/queue.js';
import { SimClientSessions, SimMacs, SimReplicaSessions } from '../dist/sim/sessions.js';
import { benchArgs } from './args.mjs';

const USAGE = `The protocol's CPU per request in one process: n runtime nodes and closed-loop clients
over an in-memory network and disk on a virtual clock (real Ed25519 and HMAC session MACs).

usage: node bench/hotpath.mjs [--replicas 4] [--clients 50] [--requests 20000] [--warmup 5000]
                              [--hop-us 100] [--disk-us 50] [--value-size 16] [--json]
                              [--profile FILE.cpuprofile]

--warmup is a number of requests run before the measured ones (0: measure from the first);
--profile writes a CPU profile of the measured requests only. Needs a build (npm run build).`;
const a = benchArgs(USAGE, {
  replicas: { kind: 'count', default: 4 },
  clients: { kind: 'count', default: 50 },
  requests: { kind: 'count', default: 20000 },
  warmup: { kind: 'count', min: 0, default: 5000 },
  'hop-us': { kind: 'number', default: 100 },
  'disk-us': { kind: 'number', default: 50 },
  'value-size': { kind: 'count', default: 16 },
  json: { kind: 'flag' },
  profile: { kind: 'string' },
});
const n = a.replicas;
const C = a.clients;
const measured = a.requests;
const warmup = a.warmup;
const hopMs = a['hop-us'] / 1000;
const diskMs = a['disk-us'] / 1000;
const value = 'v'.repeat(a['value-size']);

const q = new EventQueue();
let now = 0;
const at = (ms, fn) => q.push(now + ms, fn);

const scheme = new SodiumEd25519();
const seed = (s) => Buffer.from(s.padEnd(32, '.')).subarray(0, 32).toString('hex');
const rsecrets = Array.from({ length: n }, (_, i) => seed(`hotpath-replica-${i}`));
const cids = Array.from({ length: C }, (_, i) => `c${i}`);
const csecrets = cids.map((c) => seed(`hotpath-client-${c}`));
const keyring = keyringFor(
  rsecrets.map((s) => scheme.publicKey(s)),
  Object.fromEntries(cids.map((c, i) => [c, scheme.publicKey(csecrets[i])])),
  false,
  'hotpath',
);
const macs = new SimMacs('hotpath', 'hmac');
const params = defaultParams(n);

/** a durable log that encodes each frame (its CPU counts) and completes after --disk-us */
function memoryStorage() {
  return {
    where: 'memory',
    moveAside: () => [],
    open: () => ({
      loadReport: { records: 0, tornTail: false },
      takeRecords: () => [],
      commit(records, cb) {
        encodeFrameJson(recordsJson(records));
        at(diskMs, () => cb(null));
      },
      whenIdle: () => Promise.resolve(),
      close() {},
    }),
  };
}

const clock = {
  now: () => now,
  setTimeout: (fn, ms) => {
    const h = { fn, live: true };
    at(Number.isFinite(ms) && ms > 0 ? ms : 0, () => h.live && h.fn());
    return h;
  },
  clearTimeout: (h) => {
    if (h) h.live = false;
  },
  setImmediate: (fn) => at(0, fn),
};

let phaseBytes = 0;
const nodes = [];
const clients = [];
for (let id = 0; id < n; id++) {
  const sessions = new SimReplicaSessions(macs, id, () => true);
  const auth = new KeyedAuthenticator(scheme, rsecrets[id], keyring, sessions, { rememberRequestDigests: true });
  const app = new CorruptibleApp(new KvStore(), Math.random);
  nodes.push(
    ReplicaNode.simulated({
      id,
      params,
      auth,
      clock,
      storage: memoryStorage(),
      entropy: { random: Math.random, nonce: () => '0123456789abcdef' },
      phases: {
        write: (e) => {
          phaseBytes += encodePhaseLine(now, id, e).length;
        },
        flush: () => Promise.resolve(),
        close: () => Promise.resolve(),
      },
      transport: {
        sendToPeer: (to, frame) => {
          at(hopMs, () => {
            const f = JSON.parse(frame);
            for (const m of f.type === 'messages' ? f.msgs : [f.msg]) {
              // batch sizes: the pre-prepares the first backup after the primary receives
              if (measuring && m.body?.type === 'pre-prepare' && to === (m.body.replica + 1) % n) {
                prePrepares++;
                batched += m.batch.length;
              }
              nodes[to].receivePeer(id, m);
            }
          });
          return true;
        },
        sendToClient: (client, frame) => {
          at(hopMs, () => clients[Number(client.slice(1))].onReply(id, JSON.parse(frame).msg));
          return true;
        },
      },
      app,
      byzantine: makeByzantine({ id, params, auth, rng: Math.random }, app),
    }),
  );
}

/** --profile FILE: a CPU profile of the measured requests only (not the warm-up) */
const profiler = a.profile ? new Session() : null;
if (profiler) {
  profiler.connect();
  profiler.post('Profiler.enable');
  profiler.post('Profiler.setSamplingInterval', { interval: 250 });
}

let done = 0;
let measuring = false;
let prePrepares = 0;
let batched = 0;
let cpu0;
let t0;
const lat = [];
function startMeasuring() {
  measuring = true;
  cpu0 = process.cpuUsage();
  t0 = performance.now();
  if (profiler) profiler.post('Profiler.start');
}
class Client {
  constructor(idx) {
    this.idx = idx;
    this.id = cids[idx];
    this.k = 0;
    this.core = new ClientCore({
      id: this.id,
      n,
      auth: new KeyedAuthenticator(scheme, csecrets[idx], keyring, new SimClientSessions(macs, this.id, n)),
      startTimestamp: 1,
      retransmitTimeoutMs: 1000,
      maxRetransmitTimeoutMs: 8000,
    });
  }
  next() {
    this.sentAt = now;
    this.act(this.core.submit(encodeKvOp({ op: 'put', key: `bench/${this.idx}/${this.k++ % 1024}`, value })));
  }
  onReply(from, msg) {
    this.act(this.core.step({ type: 'reply', from, msg }));
  }
  act(actions) {
    for (const x of actions) {
      if (x.type === 'send' || x.type === 'broadcast') {
        const json = JSON.stringify(x.msg);
        const to = x.type === 'send' ? [x.to] : nodes.map((_, i) => i);
        at(hopMs, () => {
          for (const r of to) nodes[r].receiveRequest(JSON.parse(json));
        });
      } else if (x.type === 'done') {
        done++;
        if (measuring) lat.push(now - this.sentAt);
        else if (done === warmup) startMeasuring();
        if (done < warmup + measured) at(0, () => this.next());
      }
    }
  }
}
for (let i = 0; i < C; i++) clients.push(new Client(i));
if (warmup === 0) startMeasuring();
for (const c of clients) c.next();

while (done < warmup + measured) {
  const e = q.pop();
  if (!e) throw new Error(`stalled after ${done} requests`);
  now = e.timeMs;
  e.ev();
}
const cpu = process.cpuUsage(cpu0);
if (profiler)
  profiler.post('Profiler.stop', (err, r) => {
    if (err) throw err;
    writeFileSync(a.profile, JSON.stringify(r.profile));
  });
const wallMs = performance.now() - t0;
const cpuMs = (cpu.user + cpu.system) / 1000;
lat.sort((x, y) => x - y);
const out = {
  replicas: n,
  clients: C,
  requests: measured,
  cpuMs: Math.round(cpuMs),
  wallMs: Math.round(wallMs),
  cpuUsPerRequest: Math.round((cpuMs * 1000) / measured),
  requestsPerCpuSec: Math.round((measured * 1000) / cpuMs),
  virtualSeconds: Number((now / 1000).toFixed(2)),
  virtualP50Ms: lat[Math.floor(lat.length / 2)],
  meanBatch: Number((batched / Math.max(1, prePrepares)).toFixed(2)),
  phaseLogBytes: phaseBytes,
};
if (a.json) console.log(JSON.stringify(out));
else {
  console.log(
    `n=${n} clients=${C}: ${measured} requests, ${out.cpuMs} ms CPU (${out.cpuUsPerRequest} µs per request, all replicas and clients; ${out.requestsPerCpuSec} req/CPU-s)`,
  );
  console.log(`virtual time ${out.virtualSeconds} s, p50 ${out.virtualP50Ms?.toFixed(2)} ms; mean batch ${out.meanBatch}`);
}
