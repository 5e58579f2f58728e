/**
 * The session-key handshake (README, "Authentication") on real sockets, in-process: a replica's
 * transport against raw client hellos, and PbftClient against a fake replica that signs its
 * ephemeral key with the right or a wrong key.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { canonicalBytes } from '../../src/core/canonical.js';
import { requestMacDigest } from '../../src/core/messages.js';
import type { SignedRequest } from '../../src/core/types.js';
import { KeyedAuthenticator, randomSecretKey } from '../../src/crypto/index.js';
import {
  RECENT_REPLY_MACS,
  ReplicaSessions,
  clientSessionHelloBytes,
  deriveSessionKey,
  ephemeralX25519,
  macEqual,
  macHex,
  replicaSessionBytes,
  type SessionKey,
} from '../../src/crypto/sessions.js';
import { PbftClient } from '../../src/runtime/client.js';
import { loadCluster, readClientSecret, readSecretKey, type LoadedCluster } from '../../src/runtime/config.js';
import { initCluster } from '../../src/runtime/init.js';
import { ReplicaTransport } from '../../src/runtime/transport.js';
import { clientHelloBytes, parseFrame } from '../../src/runtime/wire.js';
import { freePorts, waitFor } from '../helpers/cluster.js';
import { rawConnect } from '../helpers/raw.js';

let dir: string;
let cluster: LoadedCluster;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pbft-sessions-'));
  await initCluster({ dir, replicas: 4, ports: await freePorts(4), clients: 1 });
  cluster = await loadCluster(dir);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const quiet = { warn: () => undefined };

describe('ReplicaSessions: the keys of recent reply MACs', () => {
  it('remembers the key of the last RECENT_REPLY_MACS reply MACs, and forgets the oldest first', () => {
    const s = new ReplicaSessions();
    const k1: SessionKey = { req: Buffer.alloc(32, 1), rep: Buffer.alloc(32, 2) };
    const k2: SessionKey = { req: Buffer.alloc(32, 3), rep: Buffer.alloc(32, 4) };
    s.set('c1', k1);
    s.set('c2', k2);
    expect(s.replyMac('nobody', new Uint8Array([1]))).toBeNull();
    const macs: string[] = [];
    for (let i = 0; i < RECENT_REPLY_MACS + 10; i++) macs.push(s.replyMac(i % 2 ? 'c2' : 'c1', Buffer.from(`reply ${i}`))!);
    expect(macs[0]).toBe(macHex(k1.rep, Buffer.from('reply 0')));
    for (let i = 0; i < 10; i++) expect(s.keyOfReplyMac(macs[i]!)).toBeUndefined();
    for (let i = 10; i < macs.length; i++) expect(s.keyOfReplyMac(macs[i]!)).toBe(i % 2 ? k2 : k1);
  });

  it('a MAC made again (a retransmitted request answered again) is not forgotten early (found in review)', () => {
    const s = new ReplicaSessions();
    const k: SessionKey = { req: Buffer.alloc(32, 1), rep: Buffer.alloc(32, 2) };
    s.set('c', k);
    const again = Buffer.from('the same reply');
    s.replyMac('c', again);
    s.replyMac('c', again);
    for (let i = 0; i < RECENT_REPLY_MACS - 2; i++) s.replyMac('c', Buffer.from(`r${i}`));
    const mac = s.replyMac('c', again)!;
    expect(s.keyOfReplyMac(mac)).toBe(k);
    s.replyMac('c', Buffer.from('one more'));
    expect(s.keyOfReplyMac(mac)).toBe(k);
  });
});

describe('session keys: the replica side (ReplicaTransport)', () => {
  it('a client hello with an ephemeral key under its signature makes a session; a forged or mismatched one is refused; a close clears it', async () => {
    const sessions = new ReplicaSessions();
    const secret1 = await readSecretKey(cluster.paths.replicaKey(1), quiet);
    const t = new ReplicaTransport({
      cluster,
      id: 1,
      secret: secret1,
      sessions,
      events: { onPeerMessage: () => undefined, onClientRequest: () => undefined, onAdminFrame: () => undefined },
    });
    await t.listen();
    try {
      const cfg = cluster.config;
      const clientSecret = await readClientSecret(cluster, 'client0');
      const clientPub = cluster.scheme.publicKey(clientSecret);
      // the challenge's ephemeral key is signed by replica 1 over (cluster, replica, nonce, dh)
      const c = await rawConnect(cluster, 1);
      expect(c.challenge.dh).toMatch(/^[0-9a-f]{64}$/);
      expect(cluster.scheme.verify(cfg.replicas[1]!.publicKey, replicaSessionBytes(cfg.name, 1, c.challenge.nonce, c.challenge.dh!), c.challenge.dhSig!)).toBe(
        true,
      );
      // a valid hello: both sides derive the same key
      const eph = ephemeralX25519();
      const ctx = {
        cluster: cfg.name,
        client: 'client0',
        clientKey: clientPub,
        replica: 1,
        replicaKey: cfg.replicas[1]!.publicKey,
        nonce: c.challenge.nonce,
        replicaDh: c.challenge.dh!,
        clientDh: eph.publicKey,
      };
      const key = deriveSessionKey(eph, c.challenge.dh!, ctx)!;
      c.send({
        type: 'hello',
        role: 'client',
        client: 'client0',
        dh: eph.publicKey,
        sig: cluster.scheme.sign(clientSecret, clientSessionHelloBytes(cfg.name, 'client0', 1, c.challenge.nonce, c.challenge.dh!, eph.publicKey)),
      });
      await c.next((f) => f.type === 'welcome');
      const theirs = sessions.get('client0')!;
      expect(theirs).toBeDefined();
      expect(theirs.req.equals(key.req) && theirs.rep.equals(key.rep)).toBe(true);
      expect(key.req.equals(key.rep)).toBe(false);
      // a reply sent on that connection is MAC'd under it, and re-MAC'd when the core used another key
      const body = { type: 'reply' as const, view: 0, timestamp: 1, client: 'client0', replica: 1, result: 'x', tentative: false };
      // (the core MAC'd it under a key the client had before: re-MAC'd for this connection)
      const before = { req: Buffer.alloc(32, 1), rep: Buffer.alloc(32, 2) };
      sessions.set('client0', before);
      const stale = sessions.replyMac('client0', canonicalBytes(body))!;
      sessions.set('client0', theirs);
      t.sendToClient('client0', JSON.stringify({ type: 'reply', msg: { body, mac: stale } }), { body, mac: stale });
      const rep = (await c.next((f) => f.type === 'reply')).msg as { mac: string };
      expect(macEqual(key.rep, canonicalBytes(body), rep.mac)).toBe(true);
      // a MAC the table never made (a Byzantine strategy's) goes out as it is
      t.sendToClient('client0', JSON.stringify({ type: 'reply', msg: { body, mac: '00'.repeat(16) } }), { body, mac: '00'.repeat(16) });
      expect(((await c.next((f) => f.type === 'reply')).msg as { mac: string }).mac).toBe('00'.repeat(16));

      // A hello that does not prove client0 is refused: signed over `signedDh` (the ephemeral it
      // claims is `dh`), for the challenge of connection `challenged`, by `secret`.
      const refusedHello = async (dh: string, signedDh: string, challenged: Awaited<ReturnType<typeof rawConnect>> | null, secret: string) => {
        const x = await rawConnect(cluster, 1);
        const ch = (challenged ?? x).challenge;
        x.send({
          type: 'hello',
          role: 'client',
          client: 'client0',
          dh,
          sig: cluster.scheme.sign(secret, clientSessionHelloBytes(cfg.name, 'client0', 1, ch.nonce, ch.dh!, signedDh)),
        });
        expect(await x.next((f) => f.type === 'refused')).toMatchObject({ reason: expect.stringContaining('does not prove client') });
      };
      // the client's signature over a different ephemeral (a man in the middle swapping keys)
      await refusedHello(ephemeralX25519().publicKey, eph.publicKey, null, clientSecret);
      // a hello replayed from the first connection (another nonce and replica ephemeral)
      await refusedHello(eph.publicKey, eph.publicKey, c, clientSecret);
      // signed by another key
      await refusedHello(eph.publicKey, eph.publicKey, null, randomSecretKey());
      expect(sessions.get('client0')).toBe(theirs);
      // an old-style hello (no ephemeral) still works, without a session
      const o = await rawConnect(cluster, 1);
      o.send({
        type: 'hello',
        role: 'client',
        client: 'client0',
        sig: cluster.scheme.sign(clientSecret, clientHelloBytes(cfg.name, 'client0', 1, o.challenge.nonce)),
      });
      await o.next((f) => f.type === 'welcome');
      expect(sessions.get('client0')).toBe(theirs);
      expect(t.sessionCounters).toMatchObject({ sessions: 1, withoutSession: 1 });
      // the reply to the session-less connection is signed, to the session one MAC'd
      const good = sessions.replyMac('client0', canonicalBytes(body))!;
      expect(good).toBe(macHex(key.rep, canonicalBytes(body)));
      t.sendToClient('client0', JSON.stringify({ type: 'reply', msg: { body, mac: good } }), { body, mac: good });
      const signed = (await o.next((f) => f.type === 'reply')).msg as { sig?: string; mac?: string };
      expect(signed.mac).toBeUndefined();
      expect(new KeyedAuthenticator(cluster.scheme, null, cluster.keyring).verifyReplica(1, canonicalBytes(body), signed.sig!)).toBe(true);
      // closing the session's connection forgets its key
      c.close();
      await waitFor(async () => sessions.get('client0') === undefined, { timeoutMs: 5000, what: 'the session to be cleared' });
      o.close();
    } finally {
      await t.close();
    }
  });
});

/** A fake replica 0: answers a connection with a challenge whose ephemeral key is signed with `signer`. */
async function fakeReplica(signer: string): Promise<{
  hellos: Record<string, unknown>[];
  frames: Record<string, unknown>[];
  key: () => SessionKey | null;
  conn: () => WebSocket | null;
  close: () => Promise<void>;
}> {
  const cfg = cluster.config;
  const port = cfg.replicas[0]!.port;
  const wss = new WebSocketServer({ host: '127.0.0.1', port });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const hellos: Record<string, unknown>[] = [];
  const frames: Record<string, unknown>[] = [];
  let key: SessionKey | null = null;
  let conn: WebSocket | null = null;
  wss.on('connection', (ws) => {
    conn = ws;
    const nonce = randomSecretKey();
    const eph = ephemeralX25519();
    ws.send(
      JSON.stringify({
        type: 'challenge',
        replica: 0,
        cluster: cfg.name,
        nonce,
        dh: eph.publicKey,
        dhSig: cluster.scheme.sign(signer, replicaSessionBytes(cfg.name, 0, nonce, eph.publicKey)),
      }),
    );
    ws.on('message', (data) => {
      const f = parseFrame(data)!;
      if (f.type !== 'hello') {
        frames.push(f);
        return;
      }
      hellos.push(f);
      if (typeof f.dh === 'string') {
        const client = f.client as string;
        const clientKey = cluster.keyring.clientKey(client)!;
        if (cluster.scheme.verify(clientKey, clientSessionHelloBytes(cfg.name, client, 0, nonce, eph.publicKey, f.dh), f.sig as string))
          key = deriveSessionKey(eph, f.dh, {
            cluster: cfg.name,
            client,
            clientKey,
            replica: 0,
            replicaKey: cfg.replicas[0]!.publicKey,
            nonce,
            replicaDh: eph.publicKey,
            clientDh: f.dh,
          });
      }
      ws.send(JSON.stringify({ type: 'welcome', replica: 0 }));
    });
  });
  return {
    hellos,
    frames,
    key: () => key,
    conn: () => conn,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

describe('session keys: the client side (PbftClient)', () => {
  it('with the replica key from cluster.json: a session; requests carry a valid MAC for it; replies with a bad MAC are dropped and counted', async () => {
    const fake = await fakeReplica(await readSecretKey(cluster.paths.replicaKey(0), quiet));
    const c = await PbftClient.connect(cluster, { clientId: 'client0' });
    try {
      await c.waitConnected(1, { timeoutMs: 5000 }).catch(() => undefined);
      await waitFor(async () => c.sessionReplicas().includes(0), { timeoutMs: 5000, what: 'a session with replica 0' });
      expect(fake.key()).not.toBeNull();
      expect(c.handshakeFailures).toBe(0);
      const pending = c.request('{"op":"put","key":"a","value":"1"}', { timeoutMs: 3000 }).catch(() => undefined);
      await waitFor(async () => fake.frames.some((f) => f.type === 'request'), { timeoutMs: 5000, what: 'a request at the fake primary' });
      const req = fake.frames.find((f) => f.type === 'request')!.msg as SignedRequest;
      const digest = requestMacDigest(new KeyedAuthenticator(cluster.scheme, null, cluster.keyring), req);
      expect(macEqual(fake.key()!.req, Buffer.from(digest, 'hex'), req.mac![0]!)).toBe(true);
      // a reply from "replica 0" whose MAC is not under the session key: dropped, counted
      const body = { type: 'reply', view: 0, timestamp: req.body.timestamp, client: 'client0', replica: 0, result: 'r', tentative: false };
      fake.conn()!.send(JSON.stringify({ type: 'reply', msg: { body, mac: macHex(Buffer.alloc(32, 7), canonicalBytes(body)) } }));
      await waitFor(async () => (c.droppedReplies['bad-mac'] ?? 0) === 1, { timeoutMs: 5000, what: 'the bad reply MAC to be counted' });
      // a good one is taken (not counted): a bad one after it (frames arrive in order) makes 2, not 3
      fake.conn()!.send(JSON.stringify({ type: 'reply', msg: { body, mac: macHex(fake.key()!.rep, canonicalBytes(body)) } }));
      fake.conn()!.send(JSON.stringify({ type: 'reply', msg: { body, mac: macHex(fake.key()!.req, canonicalBytes(body)) } }));
      await waitFor(async () => (c.droppedReplies['bad-mac'] ?? 0) >= 2, { timeoutMs: 5000, what: 'the second bad reply MAC' });
      expect(c.droppedReplies['bad-mac']).toBe(2);
      c.close();
      await pending;
    } finally {
      c.close();
      await fake.close();
    }
  });

  it('with a wrong replica key (an impostor): no session, no MAC for it, a handshake failure counted', async () => {
    const fake = await fakeReplica(randomSecretKey());
    const c = await PbftClient.connect(cluster, { clientId: 'client0' });
    try {
      await waitFor(async () => fake.hellos.length > 0 && c.connectedReplicas().includes(0), { timeoutMs: 5000, what: 'the hello' });
      expect(fake.hellos[0]!.dh).toBeUndefined();
      expect(fake.key()).toBeNull();
      expect(c.handshakeFailures).toBe(1);
      expect(c.sessionReplicas()).not.toContain(0);
      const pending = c.request('{"op":"put","key":"a","value":"1"}', { timeoutMs: 2000 }).catch(() => undefined);
      await waitFor(async () => fake.frames.some((f) => f.type === 'request'), { timeoutMs: 5000, what: 'a request at the fake primary' });
      const req = fake.frames.find((f) => f.type === 'request')!.msg as SignedRequest;
      expect(req.mac?.[0] ?? null).toBeNull();
      c.close();
      await pending;
    } finally {
      c.close();
      await fake.close();
    }
  });
});
