/**
 * Frame fuzzing on a real replica process (issue 9). Mutated frames reach replica 1 over ws:
 * before the handshake, on an authenticated replica connection (messages signed with replica
 * 2's real key after their fields were mutated, so validation alone stands between them and
 * the core), on an authenticated client connection, and from connections that trickle bytes.
 * The replica must keep serving, drop and count what it refuses, and not grow in memory.
 *
 * PBFT_FUZZ_FRAMES sets the number of frames (default 6000; the issue's long run is 100000),
 * PBFT_FUZZ_SEED the seed.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyedAuthenticator } from '../../src/crypto/index.js';
import { readClientSecret, readSecretKey } from '../../src/runtime/config.js';
import { clientHelloBytes, replicaHelloBytes } from '../../src/runtime/wire.js';
import { createTestCluster, kv, type TestCluster, waitFor } from '../helpers/cluster.js';
import { brokenFrame, clientFrame, type FuzzKeys, replicaFrame, rngOf } from '../helpers/framefuzz.js';
import { type RawConn, rawConnect } from '../helpers/raw.js';

const FRAMES = Number(process.env.PBFT_FUZZ_FRAMES ?? 6000);
const SEED = Number(process.env.PBFT_FUZZ_SEED ?? 1);
const TARGET = 1;

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

describe('frame fuzzing on a real replica (n = 4)', () => {
  let tc: TestCluster;
  beforeAll(async () => {
    tc = await createTestCluster({ replicas: 4, runtime: { maxFrameBytes: 1 << 20 } });
    await tc.startAll();
  }, 90_000);
  afterAll(async () => {
    await tc?.cleanup();
  });

  it(`${FRAMES} mutated frames: the replica keeps serving, counts what it drops, and its memory stays flat`, async () => {
    const cl = tc.cluster;
    const rng = rngOf(SEED);
    const replicaAuth = new KeyedAuthenticator(cl.scheme, await readSecretKey(cl.paths.replicaKey(2), { warn: () => undefined }), cl.keyring);
    const clientAuth = new KeyedAuthenticator(cl.scheme, await readClientSecret(cl, 'client0', { warn: () => undefined }), cl.keyring);
    const keys: FuzzKeys = {
      scheme: cl.scheme,
      signAsReplica: (b) => replicaAuth.sign(b),
      replica: 2,
      signAsClient: (b) => clientAuth.sign(b),
      client: 'client0',
    };
    const pid = tc.procs.get(TARGET)!.pid;
    const s0 = await tc.status(TARGET);

    // slow connections: raw TCP that trickles an HTTP upgrade one byte at a time
    const upgrade = `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 7).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    const tricklers = Array.from({ length: 4 }, () => {
      const sock = net.connect(cl.config.replicas[TARGET]!.port, '127.0.0.1');
      sock.on('error', () => undefined);
      let i = 0;
      const t = setInterval(() => {
        if (sock.destroyed || i >= upgrade.length) return;
        sock.write(upgrade[i++]!);
      }, 25);
      return { sock, stop: () => clearInterval(t) };
    });

    const connectAs = async (role: 'replica' | 'client' | 'clients' | 'none'): Promise<RawConn> => {
      const c = await rawConnect(cl, TARGET, { maxPayload: 4 << 20 });
      if (role === 'replica')
        c.send({
          type: 'hello',
          role: 'replica',
          replica: 2,
          sig: cl.scheme.sign(
            await readSecretKey(cl.paths.replicaKey(2), { warn: () => undefined }),
            replicaHelloBytes(cl.config.name, 2, TARGET, c.challenge.nonce),
          ),
        });
      if (role === 'client')
        c.send({
          type: 'hello',
          role: 'client',
          client: 'client0',
          sig: cl.scheme.sign(
            await readClientSecret(cl, 'client0', { warn: () => undefined }),
            clientHelloBytes(cl.config.name, 'client0', TARGET, c.challenge.nonce),
          ),
        });
      if (role === 'clients') c.send({ type: 'hello', role: 'clients' });
      if (role !== 'none') await c.next((f) => f.type === 'welcome');
      if (role === 'clients') {
        // a shared client connection with client0 attached (no session: the signed path)
        c.send({
          type: 'attach',
          client: 'client0',
          sig: cl.scheme.sign(
            await readClientSecret(cl, 'client0', { warn: () => undefined }),
            clientHelloBytes(cl.config.name, 'client0', TARGET, c.challenge.nonce),
          ),
        });
        await c.next((f) => f.type === 'attached');
      }
      return c;
    };

    const kinds: Record<string, number> = {};
    let replicaConn = await connectAs('replica');
    let clientConn = await connectAs('client');
    let sharedConn = await connectAs('clients');
    let timestamp = Date.now() * 1000;
    let rssMid = 0;
    const CHUNK = 500;
    for (let sent = 0; sent < FRAMES; sent += CHUNK) {
      for (let i = 0; i < CHUNK; i++) {
        const r = rng();
        let f: { kind: string; data: string | Buffer };
        let conn: RawConn;
        if (r < 0.7) {
          f = replicaFrame(rng, keys);
          conn = replicaConn;
        } else if (r < 0.86) {
          f = clientFrame(rng, keys, timestamp++);
          conn = clientConn;
        } else if (r < 0.93) {
          // on the shared connection: requests alone or batched, attaches and detaches with bad fields
          f = sharedFrame(rng, clientFrame(rng, keys, timestamp++));
          conn = sharedConn;
        } else {
          // before the handshake: a fresh connection gets one broken frame or a bad hello
          const pre = await connectAs('none');
          f =
            rng() < 0.5
              ? brokenFrame(rng)
              : {
                  kind: 'bad-hello',
                  data: JSON.stringify({ type: 'hello', role: rng() < 0.5 ? 'replica' : 'client', replica: 2, client: 'client0', sig: 'ab'.repeat(64) }),
                };
          pre.ws.send(f.data);
          pre.close();
          kinds[`pre-handshake:${f.kind}`] = (kinds[`pre-handshake:${f.kind}`] ?? 0) + 1;
          continue;
        }
        kinds[f.kind] = (kinds[f.kind] ?? 0) + 1;
        conn.ws.send(f.data);
      }
      // pace on the replica: its status answers only after it read what came before
      await tc.status(TARGET);
      // a connection the replica closed (a binary or oversize frame does that) is opened again
      if (replicaConn.ws.readyState !== replicaConn.ws.OPEN) replicaConn = await connectAs('replica');
      if (clientConn.ws.readyState !== clientConn.ws.OPEN) clientConn = await connectAs('client');
      if (sharedConn.ws.readyState !== sharedConn.ws.OPEN) sharedConn = await connectAs('clients');
      if (sent + CHUNK >= FRAMES / 2 && rssMid === 0) rssMid = rssBytes(pid);
    }
    for (const t of tricklers) t.stop();
    replicaConn.close();
    clientConn.close();
    sharedConn.close();
    const rssEnd = rssBytes(pid);

    // it is alive, counted what it refused, and still serves and agrees
    expect(tc.procs.get(TARGET)!.child.exitCode).toBeNull();
    const s1 = await tc.status(TARGET);
    const sum = (o: Record<string, number | undefined>) => Object.values(o).reduce((a: number, b) => a + (b ?? 0), 0);
    const dropped =
      sum(s1.dropped.reject) + sum(s1.dropped.ignore) + sum(s1.transportDropped) - (sum(s0.dropped.reject) + sum(s0.dropped.ignore) + sum(s0.transportDropped));
    expect(dropped).toBeGreaterThan(FRAMES / 4);
    const c = await tc.client();
    expect(JSON.parse((await c.request(kv.put('after-fuzz', 'ok'), { timeoutMs: 20_000 })).result).ok).toBe(true);
    await waitFor(async () => ((await tc.status(TARGET)).lastExecuted >= s1.lastExecuted + 1 ? true : undefined), {
      what: 'the fuzzed replica to execute again',
    });
    await tc.waitConverged({ ids: [0, 1, 2, 3], timeoutMs: 30_000 });
    // memory: what the second half added is bounded (no growth per frame)
    const mb = (b: number) => (b / 1048576).toFixed(1);
    console.log(
      `frame fuzz: ${FRAMES} frames (seed ${SEED}) ${JSON.stringify(kinds)}; dropped ${dropped}; rss mid ${mb(rssMid)} MB, end ${mb(rssEnd)} MB; reject ${JSON.stringify(s1.dropped.reject)}; transport ${JSON.stringify(s1.transportDropped)}`,
    );
    expect(rssEnd - rssMid).toBeLessThan(48 * 1048576);
  }, 600_000);
});

/** A client frame as it would travel on a shared connection: as is, batched with copies, or an odd attach or detach. */
function sharedFrame(rng: () => number, f: { kind: string; data: string | Buffer }): { kind: string; data: string | Buffer } {
  const x = rng();
  if (typeof f.data !== 'string' || x < 0.4) return { kind: `shared-${f.kind}`, data: f.data };
  if (x < 0.8) {
    let msg: unknown;
    try {
      msg = (JSON.parse(f.data) as { msg?: unknown }).msg;
    } catch {
      return { kind: `shared-${f.kind}`, data: f.data };
    }
    const count = Math.floor(rng() * 4); // 0: an empty batch, refused
    return { kind: 'shared-requests', data: JSON.stringify({ type: 'requests', msgs: Array.from({ length: count }, () => msg) }) };
  }
  if (x < 0.9)
    return {
      kind: 'shared-bad-attach',
      data: JSON.stringify({
        type: 'attach',
        client: rng() < 0.5 ? 'client0' : 'x'.repeat(Math.floor(rng() * 400)),
        sig: 'ab'.repeat(64),
        dh: rng() < 0.5 ? 'zz' : undefined,
      }),
    };
  // detaching someone else, or oddly: client0 stays attached
  return { kind: 'shared-detach', data: JSON.stringify({ type: 'detach', client: rng() < 0.5 ? 'client1' : 42 }) };
}
