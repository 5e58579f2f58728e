/**
 * The runtime node sends each backup a pre-prepare whose MAC authenticators keep that backup's
 * entries only (src/runtime/record-json.ts, prePrepareJsonFor), and the backups still prepare,
 * commit and execute it: the requests are authenticated by MAC, none by signature.
 */
import { describe, expect, it } from 'vitest';
import { KvStore, encodeKvOp } from '../../src/app/kv.js';
import { CorruptibleApp } from '../../src/byzantine/index.js';
import { ClientCore } from '../../src/core/client.js';
import { defaultParams } from '../../src/core/replica.js';
import type { ClientAction, SignedPrePrepare } from '../../src/core/types.js';
import { KeyedAuthenticator, keyringFor, makeScheme } from '../../src/crypto/index.js';
import { makeByzantine } from '../../src/runtime/byzantine-hook.js';
import type { NodeClock, NodeStorage } from '../../src/runtime/node-io.js';
import { ReplicaNode } from '../../src/runtime/replica-node.js';
import { SimClientSessions, SimMacs, SimReplicaSessions } from '../../src/sim/sessions.js';

describe('ReplicaNode pre-prepares', () => {
  it("carry each backup's MAC entries only, and the batch commits by MAC everywhere", () => {
    const n = 4;
    const scheme = makeScheme('sim');
    const secret = (s: string) => Buffer.from(s.padEnd(32, '.')).subarray(0, 32).toString('hex');
    const rsecrets = Array.from({ length: n }, (_, i) => secret(`pp-replica-${i}`));
    const cids = ['c0', 'c1', 'c2'];
    const keyring = keyringFor(
      rsecrets.map((s) => scheme.publicKey(s)),
      Object.fromEntries(cids.map((c) => [c, scheme.publicKey(secret(`pp-${c}`))])),
      false,
      'pp',
    );
    const macs = new SimMacs('pp', 'hmac');
    const params = defaultParams(n, { batchHoldMs: 0 });
    const queue: (() => void)[] = [];
    let now = 0;
    const clock: NodeClock = {
      now: () => now,
      setTimeout: () => null, // no timer fires in this test
      clearTimeout: () => undefined,
      setImmediate: (fn) => {
        queue.push(fn);
      },
    };
    const storage: NodeStorage = {
      where: 'memory',
      moveAside: () => [],
      open: () => ({
        loadReport: { records: 0, tornTail: false },
        takeRecords: () => [],
        commit: (_records, cb) => {
          queue.push(() => cb(null));
        },
        whenIdle: () => Promise.resolve(),
        close: () => undefined,
      }),
    };
    const prePrepares: { to: number; pp: SignedPrePrepare }[] = [];
    const replies = new Map<string, number>();
    const nodes: ReplicaNode[] = [];
    const clients: ClientCore[] = [];
    const done: string[] = [];
    const act = (c: ClientCore, actions: ClientAction[]) => {
      for (const a of actions) {
        if (a.type === 'send') {
          const json = JSON.stringify(a.msg);
          queue.push(() => nodes[a.to]!.receiveRequest(JSON.parse(json)));
        } else if (a.type === 'done') done.push(c.id);
      }
    };
    for (let id = 0; id < n; id++) {
      const auth = new KeyedAuthenticator(scheme, rsecrets[id]!, keyring, new SimReplicaSessions(macs, id, () => true), { rememberRequestDigests: true });
      const app = new CorruptibleApp(new KvStore(), () => 0.5);
      nodes.push(
        ReplicaNode.simulated({
          id,
          params,
          auth,
          clock,
          storage,
          entropy: { random: () => 0.5, nonce: () => '0123456789abcdef' },
          phases: { write: () => undefined, flush: () => Promise.resolve(), close: () => Promise.resolve() },
          transport: {
            sendToPeer: (to, frame) => {
              const f = JSON.parse(frame) as { type: string; msg?: unknown; msgs?: unknown[] };
              for (const m of f.type === 'messages' ? f.msgs! : [f.msg]) {
                if ((m as SignedPrePrepare).body?.type === 'pre-prepare') prePrepares.push({ to, pp: m as SignedPrePrepare });
                queue.push(() => nodes[to]!.receivePeer(id, m));
              }
              return true;
            },
            sendToClient: (client, frame) => {
              replies.set(client, (replies.get(client) ?? 0) + 1);
              const c = clients.find((x) => x.id === client)!;
              queue.push(() => act(c, c.step({ type: 'reply', from: id, msg: (JSON.parse(frame) as { msg: unknown }).msg })));
              return true;
            },
          },
          app,
          byzantine: makeByzantine({ id, params, auth, rng: () => 0.5 }, app),
        }),
      );
    }
    for (const id of cids) {
      const auth = new KeyedAuthenticator(scheme, secret(`pp-${id}`), keyring, new SimClientSessions(macs, id, n));
      const c = new ClientCore({ id, n, auth, startTimestamp: 1, retransmitTimeoutMs: 1000, maxRetransmitTimeoutMs: 8000 });
      clients.push(c);
      act(c, c.submit(encodeKvOp({ op: 'put', key: `k-${id}`, value: id })));
    }
    for (let steps = 0; queue.length > 0 && steps < 100_000; steps++) {
      now += 0.01;
      queue.shift()!();
    }
    expect(done.sort()).toEqual(cids);
    expect(prePrepares.length).toBeGreaterThan(0);
    for (const { to, pp } of prePrepares)
      for (const r of pp.batch) {
        expect(r.mac).toHaveLength(n);
        r.mac!.forEach((m, i) => {
          if (i === to) expect(m).toMatch(/^[0-9a-f]{32}$/);
          else expect(m).toBeNull();
        });
      }
    // every replica authenticated every request by its MAC entry; none needed a signature
    for (const node of nodes) {
      const auth = node.core.status().auth;
      expect(auth.requestsBySignature).toBe(0);
      expect(auth.requestsUnauthenticated).toBe(0);
      expect(auth.requestsByMac).toBeGreaterThanOrEqual(cids.length);
    }
  });
});
