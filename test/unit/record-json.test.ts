/**
 * src/runtime/record-json.ts: durable-log records and pre-prepares encoded with each batch
 * encoded once must read back exactly as JSON.stringify's text would, whatever their shape.
 */
import { describe, expect, it } from 'vitest';
import { batchDigest, makePrePrepare, makeRequest, parseReplicaMessage, sign, verifyReplicaSig, verifyRequestMac, withMacs } from '../../src/core/messages.js';
import type { CommitBody, PersistRecord, PrepareBody, SignedPrePrepare } from '../../src/core/types.js';
import { KeyedAuthenticator, keyringFor, makeScheme } from '../../src/crypto/index.js';
import { messageJson, prePrepareJsonFor, recordsJson } from '../../src/runtime/record-json.js';
import { SimClientSessions, SimMacs, SimReplicaSessions } from '../../src/sim/sessions.js';
import { decodeFrame, encodeFrame, encodeFrameJson } from '../../src/runtime/storage.js';

const scheme = makeScheme('sim');
const secrets = [1, 2, 3, 4, 5].map((i) => i.toString(16).padStart(64, '0'));
const pubs = secrets.map((s) => scheme.publicKey(s));
const ring = keyringFor(pubs.slice(0, 4), { client0: pubs[4]! }, false, 'record-json');
const replica = (i: number) => new KeyedAuthenticator(scheme, secrets[i]!, ring);
const client = new KeyedAuthenticator(scheme, secrets[4]!, ring);

function prePrepare(seq: number, requests: number): SignedPrePrepare {
  const batch = Array.from({ length: requests }, (_, i) => {
    const r = makeRequest(client, 'client0', seq * 100 + i, JSON.stringify({ op: 'put', key: `k"${i}\u2028`, value: 'v\\'.repeat(i) }));
    return i % 2 ? { ...r, mac: ['a'.repeat(32), null, 'b'.repeat(32), null] } : withMacs(client, r);
  });
  return makePrePrepare(replica(0), 0, seq, 0, batch);
}

function recordsOf(pp: SignedPrePrepare): PersistRecord[] {
  const { view, seq, digest } = pp.body;
  const prepares = [1, 2].map((i) => sign<PrepareBody>(replica(i), { type: 'prepare', view, seq, digest, replica: i }));
  const commits = [0, 1, 2].map((i) => sign<CommitBody>(replica(i), { type: 'commit', view, seq, digest, replica: i }));
  return [
    { kind: 'pre-prepare', msg: pp },
    { kind: 'prepared', cert: { prePrepare: pp, prepares } },
    { kind: 'committed', entry: { view, seq, digest, batch: pp.batch, commits } },
    { kind: 'view', view: 2, viewChanging: true },
  ];
}

const same = (records: unknown[]) => expect(JSON.parse(recordsJson(records as PersistRecord[]))).toEqual(JSON.parse(JSON.stringify(records)));

describe('recordsJson', () => {
  it('reads back as JSON.stringify would, batch encoded once or not', () => {
    for (const n of [0, 1, 7]) {
      const rs = recordsOf(prePrepare(n + 1, n));
      same(rs);
      same(rs); // again, from what was remembered
      same([...rs, ...rs.slice(0, 3)]);
    }
  });

  it('falls back to JSON.stringify for shapes it does not know', () => {
    const pp = prePrepare(9, 3);
    const [a, b, c] = recordsOf(pp) as [PersistRecord, PersistRecord, PersistRecord];
    const odd: unknown[] = [
      { ...a, extra: 1 },
      { kind: 'pre-prepare', msg: { ...pp, extra: true } },
      { kind: 'pre-prepare', msg: { body: { type: 'prepare' }, sig: 'x', batch: [] } },
      { kind: 'pre-prepare', msg: null },
      { kind: 'pre-prepare', msg: 'text' },
      { kind: 'prepared', cert: { ...(b as { cert: object }).cert, more: [] } },
      { kind: 'prepared', cert: null },
      { kind: 'committed', entry: { ...(c as { entry: object }).entry, note: 'x' } },
      { kind: 'committed', entry: { view: 0, seq: 1, digest: 'd', batch: 'not an array', commits: [] } },
      { kind: 'committed', entry: { view: 0, seq: 1, digest: 'd', batch: [], commits: [], x: undefined } },
      { kind: 'checkpoint', seq: 16, digest: 'e'.repeat(64), proof: [] },
    ];
    for (const r of odd) same([r]);
    same(odd);
  });

  it('messageJson is JSON.stringify for every message, and remembers pre-prepares', () => {
    const pp = prePrepare(3, 4);
    expect(JSON.parse(messageJson(pp))).toEqual(JSON.parse(JSON.stringify(pp)));
    expect(messageJson(pp)).toBe(messageJson(pp));
    const prepare = sign<PrepareBody>(replica(1), { type: 'prepare', view: 0, seq: 3, digest: pp.body.digest, replica: 1 });
    expect(messageJson(prepare)).toBe(JSON.stringify(prepare));
    for (const m of [null, 3, 'x', [1, 2], { body: null }]) expect(messageJson(m)).toBe(JSON.stringify(m));
  });

  it('makes the same frame as encodeFrame', () => {
    const rs = recordsOf(prePrepare(4, 2));
    const a = encodeFrame(rs);
    const b = encodeFrameJson(recordsJson(rs));
    // equal JSON; a frame is "<crc> <json>\n", each frame's checksum its own
    expect(JSON.parse(b.subarray(9).toString())).toEqual(JSON.parse(a.subarray(9).toString()));
    expect(b[8]).toBe(0x20);
    expect(b[b.length - 1]).toBe(0x0a);
  });

  it('embeds a full checkpoint snapshot as JSON (state), and the reader gives it back as the snapshot string', () => {
    const snapshot = `{"clients":[["client0",7,"{\\"ok\\":true}"]],"appJson":[["k\\"1","v\\u2028"],["k2","${'x'.repeat(50)}"]]}`;
    expect(JSON.parse(snapshot)).toBeTruthy();
    const rec: PersistRecord = { kind: 'checkpoint', seq: 32, digest: 'e'.repeat(64), snapshot, proof: [] };
    const text = recordsJson([rec]);
    expect(text).toContain('"state":{"clients"');
    expect(text).not.toContain('"snapshot"');
    const back = decodeFrame(encodeFrameJson(text).subarray(0, -1));
    expect(Array.isArray(back)).toBe(true);
    const [r] = back as PersistRecord[];
    expect(r).toMatchObject({ kind: 'checkpoint', seq: 32, digest: 'e'.repeat(64), proof: [] });
    expect(Object.hasOwn(r!, 'state')).toBe(false);
    expect(JSON.parse((r as { snapshot: string }).snapshot)).toEqual(JSON.parse(snapshot));
  });

  it('writes other snapshots as strings, and still reads the string form of older logs', () => {
    for (const snapshot of ['not json at all', '{"app":"[]","clients":[]}', '{lone \ud800 surrogate}', '[1,2]', '', '{"clients":[],\n"appJson":[]}']) {
      const rec: PersistRecord = { kind: 'checkpoint', seq: 16, digest: 'e'.repeat(64), snapshot, proof: [] };
      const text = recordsJson([rec]);
      const back = decodeFrame(encodeFrameJson(text).subarray(0, -1)) as PersistRecord[];
      expect((back[0] as { snapshot: string }).snapshot).toBe(snapshot.startsWith('{"app"') ? JSON.stringify(JSON.parse(snapshot)) : snapshot);
      if (snapshot.includes('\n')) expect(text).not.toContain('"state"');
    }
    // an older log's record, written by JSON.stringify
    const old: PersistRecord = { kind: 'checkpoint', seq: 16, digest: 'e'.repeat(64), snapshot: '{"app":"[[\\"k\\",\\"v\\"]]","clients":[]}', proof: [] };
    const back = decodeFrame(encodeFrame([old]).subarray(0, -1)) as PersistRecord[];
    expect(back[0]).toEqual(old);
    // a state that is not an object, or beside a snapshot: not a record this log writes
    for (const bad of [{ state: 5 }, { state: null }, { state: {}, snapshot: 'x' }]) {
      const f = encodeFrameJson(JSON.stringify([{ kind: 'checkpoint', seq: 16, digest: 'e'.repeat(64), proof: [], ...bad }]));
      expect(decodeFrame(f.subarray(0, -1))).toBe('malformed checkpoint record');
    }
  });
});

describe('prePrepareJsonFor', () => {
  const macs = new SimMacs('record-json', 'hmac');
  const withSessions = (i: number) => new KeyedAuthenticator(scheme, secrets[i]!, ring, new SimReplicaSessions(macs, i, () => true));
  const sessionClient = new KeyedAuthenticator(scheme, secrets[4]!, ring, new SimClientSessions(macs, 'client0', 4));
  const limits = { n: 4, maxBatchSize: 64, maxOpBytes: 1 << 16, maxEntries: 1000, maxSnapshotBytes: 1 << 20 };

  it("sends each backup its own MAC entries only; body, signature and digest are the pre-prepare's", () => {
    const batch = Array.from({ length: 5 }, (_, i) => {
      const r = makeRequest(sessionClient, 'client0', 10 + i, `op ${i} "quoted" \u2028`);
      // with a MAC authenticator (sessions), without one, and one with an entry missing
      return i === 1 ? r : i === 3 ? { ...withMacs(sessionClient, r), mac: [null, 'c'.repeat(32), null, 'd'.repeat(32)] } : withMacs(sessionClient, r);
    });
    const pp = makePrePrepare(replica(0), 0, 7, 0, batch);
    const forPeer = prePrepareJsonFor(pp, 4)!;
    expect(forPeer).not.toBeNull();
    for (const to of [1, 2, 3]) {
      const got = JSON.parse(forPeer(to)) as SignedPrePrepare;
      const want = {
        ...pp,
        batch: pp.batch.map((r) => (r.mac ? { ...r, mac: r.mac.map((m, i) => (i === to ? m : null)) } : r)),
      };
      expect(got).toEqual(JSON.parse(JSON.stringify(want)));
      // a well-formed pre-prepare whose digest and signature are the primary's
      const parsed = parseReplicaMessage(got, limits);
      expect(parsed.ok).toBe(true);
      expect(verifyReplicaSig(withSessions(to), got)).toBe(true);
      expect(batchDigest(withSessions(to), got.batch)).toBe(pp.body.digest);
      // the receiver authenticates requests 0, 2 and 4 by its entry; another replica could not
      const auth = withSessions(to);
      expect([0, 2, 4].map((i) => verifyRequestMac(auth, got.batch[i]!, to))).toEqual([true, true, true]);
      const other = ((to % 3) + 1) as 1 | 2 | 3;
      expect(verifyRequestMac(withSessions(other), got.batch[0]!, other)).toBe(false);
    }
    // out of range: the whole pre-prepare
    expect(forPeer(4)).toBe(messageJson(pp));
    expect(forPeer(-1)).toBe(messageJson(pp));
  });

  it('leaves other messages and odd requests to JSON.stringify', () => {
    const prepare = sign<PrepareBody>(replica(1), { type: 'prepare', view: 0, seq: 1, digest: 'a'.repeat(64), replica: 1 });
    expect(prePrepareJsonFor(prepare, 4)).toBeNull();
    expect(prePrepareJsonFor(null, 4)).toBeNull();
    expect(prePrepareJsonFor({ ...prePrepare(3, 2), extra: 1 }, 4)).toBeNull();
    // a request with a key of its own, or a MAC vector of another length, goes whole
    const r = withMacs(sessionClient, makeRequest(sessionClient, 'client0', 5, 'x'));
    const odd = [{ ...r, note: 'x' }, { ...r, mac: [...r.mac!, null] }, r];
    const pp = makePrePrepare(replica(0), 0, 9, 0, odd as never);
    const got = JSON.parse(prePrepareJsonFor(pp, 4)!(2)) as SignedPrePrepare;
    expect(got.batch[0]).toEqual(odd[0]);
    expect(got.batch[1]).toEqual(odd[1]);
    expect(got.batch[2]!.mac).toEqual([null, null, r.mac![2], null]);
    // a batch without MAC authenticators: the pre-prepare's own JSON
    const plain = prePrepare(4, 1);
    expect(prePrepareJsonFor(plain, 4)!(1)).toBe(messageJson(plain));
  });
});
