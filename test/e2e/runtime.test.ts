/**
 * The replica runtime on real processes (n = 4, f = 1): requests through PbftClient, agreement
 * of every replica's state, crash (SIGKILL) and restart of a backup, clean stop (SIGTERM) and
 * restart of the whole cluster with its durable logs, and hostile frames on the wire.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRequest, sign } from '../../src/core/messages.js';
import { KeyedAuthenticator, randomSecretKey } from '../../src/crypto/index.js';
import { sendAdminCommand, sendSignedAdminCommand, signAdminCommand } from '../../src/runtime/admin.js';
import { readClientSecret, readOperatorSecret, readSecretKey } from '../../src/runtime/config.js';
import { MAX_COALESCED_MESSAGES, clientHelloBytes, replicaHelloBytes } from '../../src/runtime/wire.js';
import { createTestCluster, kv, waitFor, type TestCluster } from '../helpers/cluster.js';
import { rawConnect } from '../helpers/raw.js';

let tc: TestCluster;

beforeAll(async () => {
  tc = await createTestCluster({
    replicas: 4,
    clients: 2,
    protocol: { checkpointInterval: 4, logWindow: 8 },
    // small frames so that the oversized-frame cases stay cheap
    runtime: { maxFrameBytes: 256 * 1024 },
  });
  await tc.startAll();
}, 90_000);

afterAll(async () => {
  await tc?.cleanup();
});

function parse(result: string): { ok: boolean; value?: string | null } {
  return JSON.parse(result) as { ok: boolean; value?: string | null };
}

describe('replica runtime, n = 4', () => {
  it('every replica prints one ready line and writes a pid file', async () => {
    for (const p of tc.procs.values()) {
      const info = await p.ready;
      expect(info).toMatchObject({ event: 'ready', replica: p.id, pid: p.pid });
      expect(info.connectedPeers.length).toBeGreaterThanOrEqual(2);
      expect(Number(readFileSync(tc.cluster.paths.pid(p.id), 'utf8'))).toBe(p.pid);
    }
  });

  it('puts and gets complete with f+1 matching replies from distinct replicas', async () => {
    const c = await tc.client();
    for (let i = 0; i < 6; i++) {
      const r = await c.request(kv.put(`k${i}`, `v${i}`));
      expect(parse(r.result)).toEqual({ ok: true, value: null });
      expect(new Set(r.replicas).size).toBe(r.replicas.length);
      expect(r.replicas.length).toBeGreaterThanOrEqual(2);
      expect(r.view).toBe(0);
    }
    const g = await c.request(kv.get('k3'));
    expect(parse(g.result)).toEqual({ ok: true, value: 'v3' });
    const ro = await c.request(kv.get('k4'), { readOnly: true });
    expect(parse(ro.result)).toEqual({ ok: true, value: 'v4' });
    const d = await c.request(kv.del('k5'));
    expect(parse(d.result)).toEqual({ ok: true, value: 'v5' });
    expect(parse((await c.request(kv.get('k5'))).result)).toEqual({ ok: true, value: null });
  });

  it('all replicas reach the same lastExecuted and stateDigest', async () => {
    const st = await tc.waitConverged({ minExecuted: 8 });
    expect(new Set(st.map((s) => s.stateDigest)).size).toBe(1);
    for (const s of st) {
      expect(s.view).toBe(0);
      expect(s.stableCheckpoint).toBeGreaterThanOrEqual(4);
    }
  });

  it('every replica ends up with open links to all three peers', async () => {
    // a link whose first dials failed (its peer started later) may be in backoff for a moment;
    // the peer connecting to us cuts that short (Link.retryNow), so this settles quickly
    const st = await waitFor(
      async () => {
        const s = await tc.statuses([0, 1, 2, 3]);
        return s.every((x) => x.connectedPeers.length === 3) ? s : undefined;
      },
      { timeoutMs: 15_000, what: 'every replica to link to its three peers' },
    );
    for (const s of st) expect(s.connectedPeers).toEqual([0, 1, 2, 3].filter((i) => i !== s.id));
  });

  it('the phase log shows the phases of a request on every replica', async () => {
    for (let i = 0; i < 4; i++) {
      const lines = readFileSync(tc.cluster.paths.phases(i), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { phase: string; replica: number; ts: number });
      const phases = new Set(lines.map((l) => l.phase));
      for (const ph of ['ready', 'pre-prepare', 'commit', 'committed', 'execute', 'reply', 'stable']) expect(phases, `replica ${i} phase ${ph}`).toContain(ph);
      expect(phases).toContain(i === 0 ? 'request' : 'prepare');
      expect(lines.every((l) => l.replica === i && typeof l.ts === 'number')).toBe(true);
    }
  });

  it('a backup killed with SIGKILL and restarted catches up to the same state', async () => {
    const exit = await tc.kill(3, 'SIGKILL');
    expect(exit.signal).toBe('SIGKILL');
    const c = await tc.client();
    for (let i = 0; i < 10; i++) expect(parse((await c.request(kv.put(`crash${i}`, `x${i}`))).result).ok).toBe(true);
    const before = await tc.statuses([0, 1, 2]);
    await tc.start(3);
    const st = await tc.waitConverged({ ids: [0, 1, 2, 3], minExecuted: before[0]!.lastExecuted });
    expect(st[3]!.stateDigest).toBe(st[0]!.stateDigest);
    // and it takes part again: a put completes with everybody executing it
    await c.request(kv.put('after-restart', 'yes'));
    await tc.waitConverged({ ids: [0, 1, 2, 3], minExecuted: st[0]!.lastExecuted + 1 });
  });

  it('SIGTERM stops every replica cleanly; after a restart the data is still there', async () => {
    const before = await tc.waitConverged();
    const exits = await tc.stopAll();
    expect(exits.size).toBe(4);
    for (const [id, e] of exits) {
      expect(e, `replica ${id}`).toEqual({ code: 0, signal: null });
      expect(existsSync(tc.cluster.paths.pid(id))).toBe(false);
      const lines = readFileSync(tc.cluster.paths.phases(id), 'utf8').trim().split('\n');
      expect(JSON.parse(lines[lines.length - 1]!)).toMatchObject({ phase: 'stop' });
    }
    await tc.startAll();
    const after = await tc.waitConverged({ minExecuted: before[0]!.lastExecuted });
    expect(after[0]!.lastExecuted).toBe(before[0]!.lastExecuted);
    expect(after[0]!.stateDigest).toBe(before[0]!.stateDigest);
    const c = await tc.client();
    expect(parse((await c.request(kv.get('k3'))).result)).toEqual({ ok: true, value: 'v3' });
    expect(parse((await c.request(kv.get('crash9'))).result)).toEqual({ ok: true, value: 'x9' });
  });
});

describe('hostile input on the wire', () => {
  it('bad hellos are refused and counted: garbage, bad signature, non-member, replayed', async () => {
    const cl = tc.cluster;
    const before = (await tc.status(1)).transportDropped;

    const g = await rawConnect(cl, 1);
    g.send('this is not json {');
    expect(await g.next((f) => f.type === 'refused')).toMatchObject({ type: 'refused' });
    expect((await g.closed).code).toBe(4001);

    const wrongKey = randomSecretKey();
    const b = await rawConnect(cl, 1);
    b.send({ type: 'hello', role: 'replica', replica: 2, sig: cl.scheme.sign(wrongKey, replicaHelloBytes(cl.config.name, 2, 1, b.challenge.nonce)) });
    expect(await b.next((f) => f.type === 'refused')).toMatchObject({ reason: expect.stringContaining('does not prove replica 2') });

    const nm = await rawConnect(cl, 1);
    nm.send({ type: 'hello', role: 'replica', replica: 9, sig: 'ab'.repeat(64) });
    expect(await nm.next((f) => f.type === 'refused')).toMatchObject({ reason: expect.stringContaining('not a member') });

    // a hello recorded on one connection does not open another (fresh nonce per connection)
    const key2 = await readSecretKey(cl.paths.replicaKey(2), { warn: () => undefined });
    const first = await rawConnect(cl, 1);
    const hello = { type: 'hello', role: 'replica', replica: 2, sig: cl.scheme.sign(key2, replicaHelloBytes(cl.config.name, 2, 1, first.challenge.nonce)) };
    first.send(hello);
    expect(await first.next((f) => f.type === 'welcome')).toMatchObject({ replica: 1 });
    first.close();
    const replay = await rawConnect(cl, 1);
    replay.send(hello);
    expect(await replay.next((f) => f.type === 'refused')).toMatchObject({ reason: expect.stringContaining('does not prove replica 2') });

    const uc = await rawConnect(cl, 1);
    uc.send({ type: 'hello', role: 'client', client: 'mallory', sig: 'ab'.repeat(64) });
    expect(await uc.next((f) => f.type === 'refused')).toMatchObject({ reason: expect.stringContaining('not known') });

    const after = (await tc.status(1)).transportDropped;
    const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
    expect(d('malformed')).toBeGreaterThanOrEqual(1);
    expect(d('bad-signature')).toBeGreaterThanOrEqual(2);
    expect(d('not-member')).toBeGreaterThanOrEqual(2);
  });

  it('malformed, oversized, unsigned, misattributed and replayed frames are dropped and counted; the replica keeps working', async () => {
    const cl = tc.cluster;
    const target = 0; // the primary: it is the one that orders client requests
    const s0 = await tc.status(target);
    // client1 talks raw here (with timestamps of its own choosing); client0 is PbftClient's
    const secret = await readClientSecret(cl, 'client1', { warn: () => undefined });
    const auth = new KeyedAuthenticator(cl.scheme, secret, cl.keyring);
    const conn = await rawConnect(cl, target);
    conn.send({
      type: 'hello',
      role: 'client',
      client: 'client1',
      sig: cl.scheme.sign(secret, clientHelloBytes(cl.config.name, 'client1', target, conn.challenge.nonce)),
    });
    await conn.next((f) => f.type === 'welcome');

    conn.send('{"type":"request", broken');
    conn.send({ type: 'request', msg: 'x'.repeat(200 * 1024) }); // above the client frame limit, below maxFrameBytes
    conn.send({ type: 'request', msg: makeRequest(auth, 'client0', Date.now() * 1000, kv.put('a', 'b')) }); // names another client
    const unsigned = makeRequest(auth, 'client1', Date.now() * 1000 + 7, kv.put('unsigned', 'no'));
    conn.send({ type: 'request', msg: { ...unsigned, sig: 'cd'.repeat(64) } });

    // the same socket still works: a valid request gets its reply here
    const ts = Date.now() * 1000 + 500_000;
    const good = makeRequest(auth, 'client1', ts, kv.put('wire', 'ok'));
    conn.send({ type: 'request', msg: good });
    const reply = await conn.next((f) => f.type === 'reply' && (f.msg as { body: { timestamp: number } }).body.timestamp === ts);
    expect((reply.msg as { body: { result: string } }).body.result).toBe(JSON.stringify({ ok: true, value: null }));

    // replayed: the same signed request again is answered from the reply cache, not re-executed
    // (re-executing the put would answer with the previous value "ok", not null)
    const executed = (await tc.waitConverged()).map((s) => s.lastExecuted)[0]!;
    conn.send({ type: 'request', msg: good });
    const again = await conn.next((f) => f.type === 'reply' && (f.msg as { body: { timestamp: number } }).body.timestamp === ts);
    expect((again.msg as { body: { result: string } }).body.result).toBe(JSON.stringify({ ok: true, value: null }));

    const s1 = await tc.status(target);
    const t = (k: string) => (s1.transportDropped[k] ?? 0) - (s0.transportDropped[k] ?? 0);
    expect(t('malformed')).toBeGreaterThanOrEqual(1);
    expect(t('too-large')).toBeGreaterThanOrEqual(1);
    expect(t('wrong-sender')).toBeGreaterThanOrEqual(1);
    expect((s1.dropped.reject['bad-signature'] ?? 0) - (s0.dropped.reject['bad-signature'] ?? 0)).toBeGreaterThanOrEqual(1);

    // a frame above maxFrameBytes closes that socket (1009) and is counted
    conn.ws.send('y'.repeat(300 * 1024));
    expect((await conn.closed).code).toBe(1009);
    await waitFor(async () => ((await tc.status(target)).transportDropped['too-large'] ?? 0) > (s1.transportDropped['too-large'] ?? 0), {
      what: 'too-large counted',
    });

    // nothing was executed twice, and the cluster still serves requests
    const c = await tc.client();
    expect(parse((await c.request(kv.get('wire'))).result)).toEqual({ ok: true, value: 'ok' });
    expect(parse((await c.request(kv.get('unsigned'))).result)).toEqual({ ok: true, value: null });
    await tc.waitConverged({ minExecuted: executed + 1 });
  });

  it('on an authenticated peer connection, unsigned and misattributed messages are rejected by the core', async () => {
    const cl = tc.cluster;
    const s0 = await tc.status(1);
    const key2 = await readSecretKey(cl.paths.replicaKey(2), { warn: () => undefined });
    const conn = await rawConnect(cl, 1);
    conn.send({ type: 'hello', role: 'replica', replica: 2, sig: cl.scheme.sign(key2, replicaHelloBytes(cl.config.name, 2, 1, conn.challenge.nonce)) });
    await conn.next((f) => f.type === 'welcome');
    const auth2 = new KeyedAuthenticator(cl.scheme, key2, cl.keyring);
    const status = { type: 'status', view: 0, viewChanging: false, lastExecuted: 0, stableSeq: 0, replica: 2 } as const;
    conn.send({ type: 'message', msg: { body: status, sig: 'ef'.repeat(64) } }); // bad signature
    conn.send({ type: 'message', msg: sign(auth2, { ...status, replica: 3 }) }); // claims to be 3 on 2's connection
    conn.send({ type: 'message', msg: { body: { type: 'nonsense' }, sig: 'ab'.repeat(32) } }); // malformed
    conn.send({ type: 'not-a-message' }); // malformed frame
    // coalesced frames: each message in one is judged alone; an empty or oversize list is malformed
    conn.send({ type: 'messages', msgs: [{ body: status, sig: 'ef'.repeat(64) }, sign(auth2, { ...status, replica: 3 })] });
    conn.send({ type: 'messages', msgs: [] });
    conn.send({ type: 'messages', msgs: Array.from({ length: MAX_COALESCED_MESSAGES + 1 }, () => sign(auth2, status)) });
    await waitFor(
      async () => {
        const s = await tc.status(1);
        const r = (k: string) => (s.dropped.reject[k as 'malformed'] ?? 0) - (s0.dropped.reject[k as 'malformed'] ?? 0);
        return (
          r('bad-signature') >= 2 &&
          r('wrong-sender') >= 2 &&
          r('malformed') >= 1 &&
          (s.transportDropped.malformed ?? 0) >= (s0.transportDropped.malformed ?? 0) + 3
        );
      },
      { what: 'the core to count the rejected messages' },
    );
    conn.close();
    const c = await tc.client();
    expect(parse((await c.request(kv.put('still', 'alive'))).result).ok).toBe(true);
  });

  it('admin: status needs no key; a command signed with a wrong key, for another replica, or replayed is refused', async () => {
    const cl = tc.cluster;
    await expect(sendAdminCommand(cl, 1, { kind: 'faults' }, { operatorSecret: randomSecretKey() })).rejects.toMatchObject({
      code: 'ADMIN_REFUSED',
      message: expect.stringContaining('signature'),
    });
    const op = await readOperatorSecret(cl, { warn: () => undefined });
    const ok = await sendAdminCommand(cl, 1, { kind: 'faults' }, { operatorSecret: op });
    expect(ok).toMatchObject({ replica: 1, faults: { enabled: true, byzantine: null, active: [] } });

    const signed = signAdminCommand(cl, 1, { kind: 'net', action: 'heal' }, op);
    await sendSignedAdminCommand(cl, 1, signed);
    await expect(sendSignedAdminCommand(cl, 1, signed)).rejects.toMatchObject({ code: 'ADMIN_REFUSED', message: expect.stringContaining('replayed') });
    await expect(sendSignedAdminCommand(cl, 2, signAdminCommand(cl, 1, { kind: 'clear' }, op))).rejects.toMatchObject({
      message: expect.stringContaining('for replica 1'),
    });
    await expect(sendSignedAdminCommand(cl, 1, { body: signed.body })).rejects.toMatchObject({ message: expect.stringContaining('not signed') });
    const old = signAdminCommand(cl, 1, { kind: 'clear' }, op, Date.now() - 10 * 60_000);
    await expect(sendSignedAdminCommand(cl, 1, old)).rejects.toMatchObject({ message: expect.stringContaining('clock') });
    // tampering with a signed command breaks the signature
    const t = signAdminCommand(cl, 1, { kind: 'net', action: 'heal' }, op);
    await expect(sendSignedAdminCommand(cl, 1, { ...t, body: { ...t.body, command: { kind: 'net', action: 'isolate' } } })).rejects.toMatchObject({
      message: expect.stringContaining('signature'),
    });
    expect((await tc.status(1)).faults.active).toEqual([]);
  });
});
