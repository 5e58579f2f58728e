#!/usr/bin/env node
// The price of one message between two processes on this machine: a ping-pong over loopback,
// once over WebSockets (`ws`, as replicas and clients talk) and once over raw TCP (Nagle off),
// in alternating rounds. Reports per round trip the wall time and the CPU of each side (user +
// system, from process.cpuUsage() on both), medians over the rounds. Every message a replica
// sends or receives pays about this; on a VM most of it is the kernel's (syscalls, wake-ups).
import { fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';
import { benchArgs } from './args.mjs';

const USAGE = `CPU and wall time of a message between two processes over loopback: ws and raw TCP.

usage: node bench/pingpong.mjs [--round-trips 20000] [--rounds 3] [--size 300] [--json]`;

const CPU_PROBE = 'cpu?';

// --- the echo side (a child process) -----------------------------------------------------------
if (process.argv[2] === '--echo') {
  const cpu = () => JSON.stringify(process.cpuUsage());
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  wss.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(!binary && String(m) === CPU_PROBE ? cpu() : m, { binary })));
  const tcp = net.createServer((c) => {
    c.setNoDelay(true);
    // one message in flight at a time: each read is one message (the probe is 4 bytes, pings are larger)
    c.on('data', (d) => c.write(d.length === CPU_PROBE.length && String(d) === CPU_PROBE ? cpu() : d));
  });
  await Promise.all([new Promise((r) => wss.once('listening', r)), new Promise((r) => tcp.listen(0, '127.0.0.1', r))]);
  process.send({ ws: wss.address().port, tcp: tcp.address().port });
  process.on('disconnect', () => process.exit(0));
} else {
  const o = benchArgs(USAGE, {
    'round-trips': { kind: 'count', default: 20000 },
    rounds: { kind: 'count', default: 3 },
    size: { kind: 'count', default: 300, min: 8 },
    json: { kind: 'flag' },
  });
  const echo = fork(fileURLToPath(import.meta.url), ['--echo'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const ports = await new Promise((resolve, reject) => {
      echo.once('message', resolve);
      echo.once('exit', (code) => reject(new Error(`the echo process exited (${code})`)));
    });
    const payload = Buffer.alloc(o.size, 0x61);

    const ws = new WebSocket(`ws://127.0.0.1:${ports.ws}`, { perMessageDeflate: false });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const tcp = net.connect(ports.tcp, '127.0.0.1');
    tcp.setNoDelay(true);
    await new Promise((resolve, reject) => {
      tcp.once('connect', resolve);
      tcp.once('error', reject);
    });
    // one shape for both: send(buf), on(fn) -> off(), probe() -> the echo side's cpuUsage()
    const transport = (emitter, event, send) => ({
      send,
      on: (fn) => {
        emitter.on(event, fn);
        return () => emitter.off(event, fn);
      },
      probe: () =>
        new Promise((r) => {
          emitter.once(event, (m) => r(JSON.parse(String(m))));
          send(CPU_PROBE);
        }),
    });
    const transports = {
      ws: transport(ws, 'message', (b) => ws.send(b, { binary: typeof b !== 'string' })),
      tcp: transport(tcp, 'data', (b) => tcp.write(b)),
    };
    const cpuUs = (u) => u.user + u.system;
    const measure = async (t, n) => {
      const e0 = await t.probe();
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      await new Promise((resolve) => {
        let i = 0;
        // (raw TCP: with one message in flight, a read holds one whole echo of `size` bytes or a part)
        let got = 0;
        const off = t.on((m) => {
          got += m.length;
          if (got < o.size) return;
          got = 0;
          if (++i >= n) {
            off();
            resolve();
          } else t.send(payload);
        });
        t.send(payload);
      });
      const wallUs = Number(process.hrtime.bigint() - t0) / 1e3 / n;
      const c = process.cpuUsage(c0);
      const e1 = await t.probe();
      return { wallUs, pingCpuUs: cpuUs(c) / n, pingSysUs: c.system / n, echoCpuUs: (cpuUs(e1) - cpuUs(e0)) / n, echoSysUs: (e1.system - e0.system) / n };
    };
    for (const t of Object.values(transports)) await measure(t, 2000); // warm-up
    const runs = { ws: [], tcp: [] };
    for (let r = 0; r < o.rounds; r++) {
      for (const name of r % 2 === 0 ? ['ws', 'tcp'] : ['tcp', 'ws']) {
        const m = await measure(transports[name], o['round-trips']);
        runs[name].push(m);
        if (!o.json)
          console.error(
            `round ${r + 1}/${o.rounds} ${name.padEnd(3)}: ${m.wallUs.toFixed(1)} us per round trip; CPU ${m.pingCpuUs.toFixed(1)} us (system ${m.pingSysUs.toFixed(1)}) + ${m.echoCpuUs.toFixed(1)} us (system ${m.echoSysUs.toFixed(1)})`,
          );
      }
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const summary = Object.fromEntries(
      Object.entries(runs).map(([name, ms]) => {
        const s = Object.fromEntries(Object.keys(ms[0]).map((k) => [k, Math.round(median(ms.map((m) => m[k])) * 10) / 10]));
        // a message is half a round trip: its sender's and its receiver's CPU together
        return [name, { ...s, cpuUsPerMessage: Math.round(((s.pingCpuUs + s.echoCpuUs) / 2) * 10) / 10 }];
      }),
    );
    if (o.json) console.log(JSON.stringify({ roundTrips: o['round-trips'], rounds: o.rounds, size: o.size, ...summary }, null, 2));
    else {
      console.log(`${o.rounds} alternating rounds of ${o['round-trips']} round trips, ${o.size}-byte messages, 127.0.0.1; medians`);
      for (const [name, s] of Object.entries(summary))
        console.log(
          `${name.padEnd(3)}: ${s.wallUs} us per round trip; CPU per round trip ${s.pingCpuUs} + ${s.echoCpuUs} us (system ${s.pingSysUs} + ${s.echoSysUs}); about ${s.cpuUsPerMessage} us of CPU per message`,
        );
    }
    ws.close();
    tcp.destroy();
  } finally {
    echo.kill();
  }
}
