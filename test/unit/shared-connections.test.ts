/**
 * Shared client connections (README, "Authentication"; wire.ts): many clients of one process on
 * one connection per replica, each proving its own identity with an attach. On real sockets,
 * in-process: the replica side against raw frames, and SharedClientConnections + PbftClient
 * against four in-process replica transports that answer every request (enough for f+1
 * matching replies), one of which goes away and comes back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalBytes } from '../../src/core/canonical.js';
import { makeReply, makeRequest, requestMacDigest } from '../../src/core/messages.js';
import type { ReplicaId, SignedRequest } from '../../src/core/types.js';
import { KeyedAuthenticator, randomSecretKey, selfCertifyingClientId } from '../../src/crypto/index.js';
import { ReplicaSessions, clientSessionHelloBytes, deriveSessionKey, ephemeralX25519, macEqual } from '../../src/crypto/sessions.js';
import { PbftClient, SharedClientConnections } from '../../src/runtime/client.js';
import { loadCluster, readClientSecret, readSecretKey, type LoadedCluster } from '../../src/runtime/config.js';
import { initCluster } from '../../src/runtime/init.js';
import { ReplicaTransport } from '../../src/runtime/transport.js';
import { FrameBatch, clientHelloBytes, replyFrame, type ChallengeFrame } from '../../src/runtime/wire.js';
import { freePorts, waitFor } from '../helpers/cluster.js';
import { rawConnect, type RawConn } from '../helpers/raw.js';

let dir: string;
let cluster: LoadedCluster;
const quiet = { warn: () => undefined };

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pbft-shared-'));
  await initCluster({ dir, replicas: 4, ports: await freePorts(4), clients: 2 });
  cluster = await loadCluster(dir);
  // reconnect quickly after the replica that goes away comes back
  cluster.config.runtime.reconnectMinMs = 20;
  cluster.config.runtime.reconnectMaxMs = 100;
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Attach `client` (secret `secret`) on raw shared connection x to replica `rid`; its session key.
 * `signedFor`: sign as if for another replica or another connection's challenge (a forgery).
 */
function attach(x: RawConn, rid: ReplicaId, client: string, secret: string, signedFor: { to?: ReplicaId; challenge?: ChallengeFrame } = {}) {
  const cfg = cluster.config;
  const eph = ephemeralX25519();
  const ch = signedFor.challenge ?? x.challenge;
  x.send({
    type: 'attach',
    client,
    dh: eph.publicKey,
    sig: cluster.scheme.sign(secret, clientSessionHelloBytes(cfg.name, client, signedFor.to ?? rid, ch.nonce, ch.dh!, eph.publicKey)),
  });
  return deriveSessionKey(eph, x.challenge.dh!, {
    cluster: cfg.name,
    client,
    clientKey: cluster.scheme.publicKey(secret),
    replica: rid,
    replicaKey: cfg.replicas[rid]!.publicKey,
    nonce: x.challenge.nonce,
    replicaDh: x.challenge.dh!,
    clientDh: eph.publicKey,
  })!;
}

describe('shared client connections: the replica side (ReplicaTransport)', () => {
  it('clients attach by proving their identity; only requests of attached clients pass; replies of a turn go out as one frame; limits hold; detach and close forget the sessions', async () => {
    const sessions = new ReplicaSessions();
    const got: { client: string; msg: unknown }[] = [];
    const t = new ReplicaTransport({
      cluster,
      id: 1,
      secret: await readSecretKey(cluster.paths.replicaKey(1), quiet),
      sessions,
      maxClientsPerConnection: 2,
      maxPerClient: 1,
      events: { onPeerMessage: () => undefined, onClientRequest: (client, msg) => got.push({ client, msg }), onAdminFrame: () => undefined },
    });
    await t.listen();
    try {
      const s0 = await readClientSecret(cluster, 'client0');
      const s1 = await readClientSecret(cluster, 'client1');
      const a0 = new KeyedAuthenticator(cluster.scheme, s0, cluster.keyring);
      const a1 = new KeyedAuthenticator(cluster.scheme, s1, cluster.keyring);
      const x = await rawConnect(cluster, 1);
      x.send({ type: 'hello', role: 'clients' });
      await x.next((f) => f.type === 'welcome');

      // before any attach, a request is nobody's: dropped; and nothing larger than a hello is even read
      x.send({ type: 'request', msg: makeRequest(a0, 'client0', 1, 'op') });
      x.send({ type: 'requests', msgs: [{ pad: 'x'.repeat(5000) }] });
      await waitFor(async () => (t.drops['too-large'] ?? 0) === 1, { timeoutMs: 5000, what: 'the large frame before any attach' });
      // an attach signed by another key, and one for a client the cluster does not know: refused, the connection stays
      attach(x, 1, 'client0', randomSecretKey());
      expect(await x.next((f) => f.type === 'attach-refused')).toMatchObject({ client: 'client0', reason: expect.stringContaining('does not prove') });
      attach(x, 1, 'nobody', randomSecretKey());
      expect(await x.next((f) => f.type === 'attach-refused')).toMatchObject({ client: 'nobody', reason: expect.stringContaining('not known') });
      // an attach signed for another connection's challenge (replayed here) does not prove anything here
      const other = await rawConnect(cluster, 1);
      attach(x, 1, 'client0', s0, { challenge: other.challenge });
      expect(await x.next((f) => f.type === 'attach-refused')).toMatchObject({ client: 'client0' });
      other.close();
      // nor one signed for another replica (on this connection's nonce and ephemeral)
      attach(x, 1, 'client0', s0, { to: 2 });
      expect(await x.next((f) => f.type === 'attach-refused')).toMatchObject({ client: 'client0' });
      expect(t.drops['wrong-sender']).toBe(1);
      expect(t.drops['bad-signature']).toBe(3);
      expect(t.drops['not-member']).toBe(1);
      expect(got).toHaveLength(0);

      // two good attaches: each client has its own session key, the one both sides derived
      const k0 = attach(x, 1, 'client0', s0);
      expect(await x.next((f) => f.type === 'attached')).toEqual({ type: 'attached', client: 'client0' });
      const k1 = attach(x, 1, 'client1', s1);
      expect(await x.next((f) => f.type === 'attached')).toEqual({ type: 'attached', client: 'client1' });
      expect(sessions.get('client0')!.req.equals(k0.req)).toBe(true);
      expect(sessions.get('client1')!.req.equals(k1.req)).toBe(true);
      expect(k0.req.equals(k1.req)).toBe(false);
      expect(t.sharedClientConnections).toEqual({ connections: 1, clients: 2 });

      // requests of both in one frame pass, each under its own name; one naming a client not attached here is dropped
      const stranger = new KeyedAuthenticator(cluster.scheme, randomSecretKey(), cluster.keyring);
      x.send({
        type: 'requests',
        msgs: [makeRequest(a0, 'client0', 2, 'a'), makeRequest(a1, 'client1', 2, 'b'), makeRequest(stranger, 'client2', 2, 'c')],
      });
      await waitFor(async () => got.length === 2 && (t.drops['wrong-sender'] ?? 0) === 2, { timeoutMs: 5000, what: 'the two requests' });
      expect(got.map((g) => g.client)).toEqual(['client0', 'client1']);
      // an empty or oversized batch is malformed
      x.send({ type: 'requests', msgs: [] });
      await waitFor(async () => (t.drops.malformed ?? 0) === 1, { timeoutMs: 5000, what: 'the empty batch' });

      // replies queued in one turn leave as one frame, each MAC'd under its client's key
      const auth1 = new KeyedAuthenticator(cluster.scheme, await readSecretKey(cluster.paths.replicaKey(1), quiet), cluster.keyring, sessions);
      const bodies = ['client0', 'client1'].map((client) => ({ view: 0, timestamp: 2, client, replica: 1, result: `r-${client}`, tentative: false }));
      for (const b of bodies) {
        const rep = makeReply(auth1, b);
        t.sendToClient(b.client, replyFrame(JSON.stringify(rep)), rep);
      }
      t.flushClients();
      const frame = await x.next((f) => f.type === 'replies' || f.type === 'reply');
      expect(frame.type).toBe('replies');
      const msgs = frame.msgs as { body: { client: string }; mac: string }[];
      expect(msgs.map((m) => m.body.client)).toEqual(['client0', 'client1']);
      expect(macEqual(k0.rep, canonicalBytes({ type: 'reply', ...bodies[0]! }), msgs[0]!.mac)).toBe(true);
      expect(macEqual(k1.rep, canonicalBytes({ type: 'reply', ...bodies[1]! }), msgs[1]!.mac)).toBe(true);
      // a lone reply is queued too, and goes out without flushClients (the transport's own backstop)
      const lone = makeReply(auth1, { ...bodies[0]!, timestamp: 3 });
      t.sendToClient('client0', replyFrame(JSON.stringify(lone)), lone);
      expect(await x.next((f) => f.type === 'reply')).toMatchObject({ msg: { body: { timestamp: 3 } } });

      // attached again on the same connection: the newer key replaces the older one
      const k0b = attach(x, 1, 'client0', s0);
      expect(await x.next((f) => f.type === 'attached')).toEqual({ type: 'attached', client: 'client0' });
      expect(sessions.get('client0')!.req.equals(k0b.req)).toBe(true);
      expect(t.sharedClientConnections).toEqual({ connections: 1, clients: 2 });
      // a third identity on this connection is beyond maxClientsPerConnection (2 here)
      const s2 = randomSecretKey();
      const id2 = selfCertifyingClientId(cluster.scheme.publicKey(s2));
      attach(x, 1, id2, s2);
      expect(await x.next((f) => f.type === 'attach-refused')).toMatchObject({ client: id2, reason: expect.stringContaining('at most 2 clients') });
      // client1 connects on its own (maxPerClient 1 here): its attachment here gives way, and the connection is told
      const own = await rawConnect(cluster, 1);
      own.send({
        type: 'hello',
        role: 'client',
        client: 'client1',
        sig: cluster.scheme.sign(s1, clientHelloBytes(cluster.config.name, 'client1', 1, own.challenge.nonce)),
      });
      await own.next((f) => f.type === 'welcome');
      expect(await x.next((f) => f.type === 'detached')).toMatchObject({ client: 'client1' });
      expect(t.sharedClientConnections).toEqual({ connections: 1, clients: 1 });
      // (its own connection has no session: the key it had here is forgotten)
      expect(sessions.get('client1')).toBeUndefined();
      own.close();

      // detach: its replies have nowhere to go, its session is forgotten, its requests are dropped
      x.send({ type: 'detach', client: 'client0' });
      await waitFor(async () => sessions.get('client0') === undefined, { timeoutMs: 5000, what: 'client0 detached' });
      expect(t.sendToClient('client0', replyFrame(JSON.stringify(lone)), lone)).toBe(false);
      expect(t.drops['no-client-connection']).toBe(1);
      x.send({ type: 'request', msg: makeRequest(a0, 'client0', 9, 'late') });
      await waitFor(async () => (t.drops['wrong-sender'] ?? 0) === 3, { timeoutMs: 5000, what: 'the request of a detached client' });
      // closing the connection forgets the rest
      x.close();
      await waitFor(async () => sessions.get('client0') === undefined && t.sharedClientConnections.connections === 0, {
        timeoutMs: 5000,
        what: 'the connection closed',
      });
    } finally {
      await t.close();
    }
  });
});

interface Answering {
  t: ReplicaTransport;
  sessions: ReplicaSessions;
  requests: SignedRequest[];
  /** replies handed to a connection of their client */
  delivered: number;
  answer(client: string, req: SignedRequest): void;
}

/**
 * An in-process "replica": it answers every request it receives with a reply MAC'd as a
 * replica's would be, and so does every replica in `all` (as if the request had been ordered).
 */
async function answeringReplica(rid: ReplicaId, all: Answering[]): Promise<Answering> {
  const sessions = new ReplicaSessions();
  const secret = await readSecretKey(cluster.paths.replicaKey(rid), quiet);
  const auth = new KeyedAuthenticator(cluster.scheme, secret, cluster.keyring, sessions);
  const requests: SignedRequest[] = [];
  const t: ReplicaTransport = new ReplicaTransport({
    cluster,
    id: rid,
    secret,
    sessions,
    events: {
      onPeerMessage: () => undefined,
      onAdminFrame: () => undefined,
      onClientRequest: (client, msg) => {
        requests.push(msg as SignedRequest);
        for (const r of all) r.answer(client, msg as SignedRequest);
      },
    },
  });
  const me: Answering = {
    t,
    sessions,
    requests,
    delivered: 0,
    answer: (client, req) => {
      const rep = makeReply(auth, { view: 0, timestamp: req.body.timestamp, client, replica: rid, result: `done:${req.body.op}`, tentative: false });
      if (t.sendToClient(client, replyFrame(JSON.stringify(rep)), rep)) me.delivered++;
    },
  };
  await t.listen();
  return me;
}

describe('shared client connections: the client side (SharedClientConnections)', () => {
  it('clients on one connection per replica: each attaches and keys its own session, requests and replies travel batched, and a replica that comes back is attached again', async () => {
    const replicas: Answering[] = [];
    for (const r of [0, 1, 2, 3]) replicas.push(await answeringReplica(r, replicas));
    const shared = new SharedClientConnections(cluster);
    const clients: PbftClient[] = [];
    try {
      for (const id of ['client0', 'client1']) clients.push(await PbftClient.connect(cluster, { clientId: id, shared }));
      // the same identity twice on the same connections is a caller's mistake
      await expect(PbftClient.connect(cluster, { clientId: 'client0', shared })).rejects.toThrow(/already uses/);
      for (const c of clients) await c.waitConnected(4, { timeoutMs: 5000 });
      for (const c of clients) await waitFor(async () => c.sessionReplicas().length === 4, { timeoutMs: 5000, what: `${c.id}'s sessions` });
      // one connection per replica, carrying both identities
      for (const r of replicas) expect(r.t.sharedClientConnections).toEqual({ connections: 1, clients: 2 });

      // both clients' requests in the same turn: one frame to the primary carries both
      const results = await Promise.all(clients.map((c, i) => c.request(`op${i}`, { timeoutMs: 5000 })));
      expect(results.map((r) => r.result)).toEqual(['done:op0', 'done:op1']);
      expect(shared.counters.requests).toBe(2);
      expect(shared.counters.requestFrames).toBe(1);
      // each request carries a MAC for every replica under that client's own key with it
      const req = replicas[0]!.requests.find((r) => r.body.client === 'client1')!;
      const digest = requestMacDigest(new KeyedAuthenticator(cluster.scheme, null, cluster.keyring), req);
      replicas.forEach((r, i) => expect(r.sessions.verifyRequestMac('client1', digest, req.mac![i]!)).toBe(true));
      // replies came batched: fewer frames than replies
      expect(shared.counters.replies).toBeGreaterThanOrEqual(4);
      expect(shared.counters.replyFrames).toBeLessThan(shared.counters.replies);

      // replica 3 goes away: the clients go on with three; it comes back: attached again, with new keys
      const oldKey = replicas[3]!.sessions.get('client0')!;
      await replicas[3]!.t.close();
      await waitFor(async () => clients.every((c) => !c.connectedReplicas().includes(3)), { timeoutMs: 5000, what: 'replica 3 gone' });
      expect((await clients[0]!.request('op2', { timeoutMs: 5000 })).result).toBe('done:op2');
      replicas[3] = await answeringReplica(3, replicas);
      for (const c of clients) await waitFor(async () => c.sessionReplicas().includes(3), { timeoutMs: 10_000, what: `${c.id} attached to replica 3 again` });
      const newKey = replicas[3]!.sessions.get('client0')!;
      expect(newKey.req.equals(oldKey.req)).toBe(false);
      const again = await Promise.all(clients.map((c, i) => c.request(`op${3 + i}`, { timeoutMs: 5000 })));
      expect(again.map((r) => r.replicas.length)).toEqual([2, 2]);
      // the replica that came back answers both clients on its new connection
      expect(replicas[3]!.delivered).toBe(2);

      // a client that closes detaches: replicas forget its session, the other goes on
      clients[0]!.close();
      for (const r of replicas) await waitFor(async () => r.sessions.get('client0') === undefined, { timeoutMs: 5000, what: 'client0 detached' });
      expect((await clients[1]!.request('op5', { timeoutMs: 5000 })).result).toBe('done:op5');
      expect(shared.size).toBe(1);
      // shared connections closed under a client: it says so at once (no wait for a timeout)
      // (timeouts far beyond the test's own: waiting them out would fail the test)
      shared.close();
      await expect(clients[1]!.waitConnected(4, { timeoutMs: 600_000 })).rejects.toThrow(/shared connections are closed/);
      await expect(clients[1]!.request('op6', { timeoutMs: 600_000 })).rejects.toThrow(/shared connections are closed/);
    } finally {
      for (const c of clients) c.close();
      shared.close();
      await Promise.all(replicas.map((r) => r.t.close()));
    }
  });
});

describe('FrameBatch: what one coalesced frame may hold', () => {
  it('one message is a frame of its own kind; more make a batch; the count and byte limits start a new frame first', () => {
    const b = new FrameBatch('reply', 'replies', 100);
    expect(b.take()).toBeNull();
    expect(b.add('{"a":1}')).toBeNull();
    expect(b.take()).toBe('{"type":"reply","msg":{"a":1}}');
    // bytes: 60 + 60 > 100, so the first goes out alone before the second is added
    const m = `"${'x'.repeat(58)}"`;
    expect(b.add(m)).toBeNull();
    expect(b.add(m)).toBe(`{"type":"reply","msg":${m}}`);
    expect(b.size).toBe(1);
    // a message larger than the limit still makes a frame (of its own)
    const big = `"${'y'.repeat(300)}"`;
    expect(b.add(big)).toBe(`{"type":"reply","msg":${m}}`);
    expect(b.take()).toBe(`{"type":"reply","msg":${big}}`);
    // count: at most MAX_COALESCED_MESSAGES (256) per frame, however small
    const c = new FrameBatch('request', 'requests', 1 << 20);
    let out: string | null = null;
    for (let i = 0; i < 257; i++) out = c.add('0') ?? out;
    expect(JSON.parse(out!).msgs).toHaveLength(256);
    expect(c.size).toBe(1);
    expect(c.clear()).toBe(1);
    expect(c.take()).toBeNull();
  });
});
