/**
 * The simulator's MAC model (src/sim/sessions.ts): MAC semantics (only the key's holders make a
 * valid tag for given bytes), the same verdicts whether a tag is remembered or recomputed, real
 * HMAC-SHA256 under `hmac`, and no way for the runtime to reach it.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { canonicalBytes } from '../../src/core/canonical.js';
import { sha256Hex } from '../../src/crypto/index.js';
import { macEqual, macHex } from '../../src/crypto/sessions.js';
import { SimClientSessions, SimMacs, SimReplicaSessions } from '../../src/sim/sessions.js';

const digest = sha256Hex('a request body');
const otherDigest = sha256Hex('another request body');
const reply = canonicalBytes({ type: 'reply', view: 0, timestamp: 3, client: 'c0', replica: 1, result: 'ok', tentative: false });
const flip = (t: string) => (t[0] === '0' ? '1' : '0') + t.slice(1);

describe('the sim MAC model', () => {
  it('a tag verifies under its key over its bytes, remembered or recomputed elsewhere', () => {
    const m = new SimMacs('s');
    const k = m.sessionKey('c0', 1);
    const t = m.requestMac(k.req, digest);
    expect(t).toMatch(/^[0-9a-f]{32}$/);
    expect(m.verifyRequestMac(k.req, digest, t)).toBe(true);
    const r = m.replyMac(k.rep, reply);
    expect(r).toMatch(/^[0-9a-f]{32}$/);
    expect(m.verifyReplyMac(k.rep, reply, r)).toBe(true);
    expect(m.verifyReplyMac(k.rep, Uint8Array.from(reply), r)).toBe(true); // equal bytes, another array
    // a pure function of key and bytes: another instance with the same salt recomputes the same tags
    const other = new SimMacs('s');
    const k2 = other.sessionKey('c0', 1);
    expect(other.requestMac(k2.req, digest)).toBe(t);
    const fresh = new SimMacs('s');
    expect(fresh.verifyRequestMac(fresh.sessionKey('c0', 1).req, digest, t)).toBe(true);
    expect(fresh.verifyReplyMac(fresh.sessionKey('c0', 1).rep, reply, r)).toBe(true);
  });

  it('a tag made with another key, over other bytes, or malformed does not verify (remembered or not)', () => {
    for (const remembered of [true, false]) {
      const maker = new SimMacs('s');
      const m = remembered ? maker : new SimMacs('s');
      const k = m.sessionKey('c0', 1);
      const t = maker.requestMac(maker.sessionKey('c0', 1).req, digest);
      const r = maker.replyMac(maker.sessionKey('c0', 1).rep, reply);
      // other keys: another replica, another client, another run, the other direction
      expect(m.verifyRequestMac(m.sessionKey('c0', 2).req, digest, t)).toBe(false);
      expect(m.verifyRequestMac(m.sessionKey('c1', 1).req, digest, t)).toBe(false);
      expect(m.verifyRequestMac(new SimMacs('t').sessionKey('c0', 1).req, digest, t)).toBe(false);
      expect(m.verifyRequestMac(k.rep, digest, t)).toBe(false);
      expect(m.verifyReplyMac(k.req, reply, r)).toBe(false);
      expect(m.verifyReplyMac(m.sessionKey('c0', 2).rep, reply, r)).toBe(false);
      // other bytes
      expect(m.verifyRequestMac(k.req, otherDigest, t)).toBe(false);
      const tampered = Uint8Array.from(reply);
      tampered[5] ^= 1;
      expect(m.verifyReplyMac(k.rep, tampered, r)).toBe(false);
      expect(m.verifyReplyMac(k.rep, reply.subarray(1), r)).toBe(false);
      expect(m.verifyReplyMac(k.rep, reply, t)).toBe(false); // a request tag is no reply tag
      // malformed or altered tags
      expect(m.verifyRequestMac(k.req, digest, flip(t))).toBe(false);
      expect(m.verifyRequestMac(k.req, digest, t.slice(0, 31))).toBe(false);
      expect(m.verifyRequestMac(k.req, digest, `${t}0`)).toBe(false);
      expect(m.verifyRequestMac(k.req, digest, 42 as unknown as string)).toBe(false);
      expect(m.verifyReplyMac(k.rep, reply, flip(r))).toBe(false);
      expect(m.verifyReplyMac(k.rep, reply, null as unknown as string)).toBe(false);
    }
  });

  it("through the tables: a replica checks its own entry only; another replica's entry, a stranger, or a bad tag fail", () => {
    const m = new SimMacs('s');
    const client = new SimClientSessions(m, 'c0', 4);
    const replicas = [0, 1, 2, 3].map((i) => new SimReplicaSessions(m, i, (c) => c === 'c0'));
    const vec = client.requestMacs(digest);
    expect(vec).toHaveLength(4);
    expect(new Set(vec).size).toBe(4);
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) expect(replicas[i]!.verifyRequestMac('c0', digest, vec[j]!)).toBe(i === j);
      expect(replicas[i]!.verifyRequestMac('c1', digest, vec[i]!)).toBe(false); // no session with c1
      expect(replicas[i]!.verifyRequestMac('c0', otherDigest, vec[i]!)).toBe(false);
      const r = replicas[i]!.replyMac('c0', reply)!;
      for (let j = 0; j < 4; j++) expect(client.verifyReplyMac(j, reply, r)).toBe(i === j);
      expect(replicas[i]!.replyMac('c1', reply)).toBeNull();
    }
    expect(client.verifyReplyMac(7, reply, replicas[0]!.replyMac('c0', reply)!)).toBe(false);
    // the tables answer for their own side only
    expect(client.verifyRequestMac()).toBe(false);
    expect(client.replyMac()).toBeNull();
    expect(replicas[0]!.requestMacs()).toEqual([]);
    expect(replicas[0]!.verifyReplyMac()).toBe(false);
  });

  it('a Byzantine client can still split its authenticator: good entries verify, bad ones do not', () => {
    const m = new SimMacs('s');
    const vec = new SimClientSessions(m, 'c0', 4).requestMacs(digest);
    const split = vec.map((t, i) => (i < 2 ? t : i === 2 ? 'e'.repeat(32) : flip(t!)));
    const ok = [0, 1, 2, 3].map((i) => new SimReplicaSessions(m, i, () => true).verifyRequestMac('c0', digest, split[i]!));
    expect(ok).toEqual([true, true, false, false]);
  });
});

describe('sim MACs under hmac (--crypto ed25519)', () => {
  it("are the runtime's HMAC-SHA256 over the same keys; the model's tags are not", () => {
    const h = new SimMacs('s', 'hmac');
    const m = new SimMacs('s');
    const kh = h.sessionKey('c0', 1);
    const km = m.sessionKey('c0', 1);
    expect(kh.req.bytes.equals(km.req.bytes)).toBe(true);
    // the keys the simulator always derived: SHA-256 of the salt, direction, client and replica
    expect(kh.req.bytes.equals(createHash('sha256').update('pbft-sim-session/s/req/c0/1').digest())).toBe(true);
    expect(kh.rep.bytes.equals(createHash('sha256').update('pbft-sim-session/s/rep/c0/1').digest())).toBe(true);
    const t = h.requestMac(kh.req, digest);
    expect(t).toBe(macHex(kh.req.bytes, Buffer.from(digest, 'hex')));
    expect(h.verifyRequestMac(kh.req, digest, t)).toBe(true);
    expect(h.verifyRequestMac(kh.req, otherDigest, t)).toBe(false);
    expect(h.verifyRequestMac(kh.rep, digest, t)).toBe(false);
    const r = h.replyMac(kh.rep, reply);
    expect(r).toBe(macHex(kh.rep.bytes, reply));
    expect(h.verifyReplyMac(kh.rep, reply, r)).toBe(true);
    expect(h.verifyReplyMac(kh.rep, reply, flip(r))).toBe(false);
    // the model's tags fail a real HMAC check with the same key bytes, and the other way round
    const tm = m.requestMac(km.req, digest);
    const rm = m.replyMac(km.rep, reply);
    expect(tm).not.toBe(t);
    expect(macEqual(km.req.bytes, Buffer.from(digest, 'hex'), tm)).toBe(false);
    expect(macEqual(km.rep.bytes, reply, rm)).toBe(false);
    expect(h.verifyRequestMac(kh.req, digest, tm)).toBe(false);
    expect(h.verifyReplyMac(kh.rep, reply, rm)).toBe(false);
    expect(m.verifyRequestMac(km.req, digest, t)).toBe(false);
    expect(m.verifyReplyMac(km.rep, reply, r)).toBe(false);
  });
});

describe('the sim MAC model is simulation only', () => {
  /** the source files reachable by relative imports from every file of the given folders */
  function reachable(folders: string[]): Set<string> {
    const src = fileURLToPath(new URL('../../src', import.meta.url));
    const seen = new Set<string>();
    const stack = folders.flatMap((d) =>
      readdirSync(join(src, d))
        .filter((f) => f.endsWith('.ts'))
        .map((f) => join(src, d, f)),
    );
    while (stack.length > 0) {
      const f = stack.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      for (const m of readFileSync(f, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g))
        stack.push(join(dirname(f), m[1]!).replace(/\.js$/, '.ts'));
    }
    return new Set([...seen].map((f) => relative(src, f)));
  }

  it('no module of the runtime, the cluster tools, the core or the crypto backends can reach it', () => {
    const r = reachable(['runtime', 'cluster', 'core', 'crypto']);
    expect(r.has('runtime/transport.ts')).toBe(true);
    expect(r.has('crypto/sessions.ts')).toBe(true);
    expect(r.has('sim/sessions.ts')).toBe(false);
    // the simulator itself does use it
    expect(reachable(['sim']).has('sim/sessions.ts')).toBe(true);
  });
});
