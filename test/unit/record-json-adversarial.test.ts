/**
 * Tailored pre-prepares (prePrepareJsonFor) against adversarial encodings: lone surrogates, line
 * separators, quotes and decoy text in ops and client ids, partly null or forged MAC vectors,
 * requests without MACs, keys in another order. Every receiver's text parses and verifies as the
 * original does, with only its own MAC entry. And what covers a request's signature: its MAC
 * entries, not the batch digest or the pre-prepare's signature (README, Authentication).
 * From an adversarial review of the tailoring (session 19).
 */
import { describe, expect, it } from 'vitest';
import {
  batchDigest,
  makePrePrepare,
  makeRequest,
  parseReplicaMessage,
  parseRequest,
  verifyClientSig,
  verifyReplicaSig,
  verifyRequestMac,
  withMacs,
  limitsFor,
} from '../../src/core/messages.js';
import type { SignedPrePrepare, SignedRequest } from '../../src/core/types.js';
import { KeyedAuthenticator, keyringFor, makeScheme } from '../../src/crypto/index.js';
import { messageJson, prePrepareJsonFor, recordsJson } from '../../src/runtime/record-json.js';
import { SimClientSessions, SimMacs, SimReplicaSessions } from '../../src/sim/sessions.js';
import { defaultParams } from '../../src/core/replica.js';

const scheme = makeScheme('sim');
const sec = (s: string) => Buffer.from(s.padEnd(32, '.')).subarray(0, 32).toString('hex');
let seed = 12345;
const rnd = () => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 2 ** 32;
};
const pieces = ['\ud800', '\udc00', '\u2028', '\u2029', '"', '\\', '\n', '\u0000', '😀', 'é', '\ufeff', '}', ']', ',"mac":[', 'null', '\ud83d'];
const weird = () => Array.from({ length: Math.floor(rnd() * 8) }, () => pieces[Math.floor(rnd() * pieces.length)]).join('');

describe('tailored pre-prepares, adversarial encodings', () => {
  for (const n of [4, 7])
    it(`n=${n}`, () => {
      const rs = Array.from({ length: n }, (_, i) => sec(`r${i}`));
      const cids = ['c"0', 'c\ud800', 'c\u2028x'];
      const ring = keyringFor(
        rs.map((s) => scheme.publicKey(s)),
        Object.fromEntries(cids.map((c) => [c, scheme.publicKey(sec(`k${c}`))])),
        false,
        'f',
      );
      const macs = new SimMacs('f', 'hmac');
      const reps = rs.map((s, i) => new KeyedAuthenticator(scheme, s, ring, new SimReplicaSessions(macs, i, () => true)));
      const lim = limitsFor(defaultParams(n, {}));
      for (let round = 0; round < 300; round++) {
        const batch: SignedRequest[] = [];
        for (let k = 0; k < 1 + Math.floor(rnd() * 6); k++) {
          const c = cids[Math.floor(rnd() * cids.length)]!;
          const ca = new KeyedAuthenticator(scheme, sec(`k${c}`), ring, new SimClientSessions(macs, c, n));
          let r = withMacs(ca, makeRequest(ca, c, Math.floor(rnd() * 1e6), weird(), false));
          // drop/garble some entries, reorder keys, round-trip through JSON like the wire does
          if (r.mac && rnd() < 0.3) r = { ...r, mac: r.mac.map((m) => (rnd() < 0.4 ? null : m)) };
          if (rnd() < 0.3)
            r = {
              sig: rnd() < 0.2 ? 'ab'.repeat(32) : r.sig,
              mac: r.mac,
              body: { op: r.body.op, readOnly: false, timestamp: r.body.timestamp, client: c, type: 'request' },
            } as SignedRequest;
          if (r.mac === undefined) delete (r as { mac?: unknown }).mac;
          const parsed = parseRequest(JSON.parse(JSON.stringify(r)), lim);
          expect(parsed.ok).toBe(true);
          batch.push((parsed as { msg: SignedRequest }).msg);
        }
        const pp = makePrePrepare(reps[0]!, 0, round + 1, 0, batch);
        const fp = prePrepareJsonFor(pp, n)!;
        for (let to = 1; to < n; to++) {
          const text = fp(to);
          const got = JSON.parse(text);
          const v = parseReplicaMessage(got, lim);
          expect(v.ok, text).toBe(true);
          const g = got as SignedPrePrepare;
          expect(verifyReplicaSig(reps[to]!, g)).toBe(true);
          expect(batchDigest(reps[to]!, g.batch)).toBe(pp.body.digest);
          g.batch.forEach((q, i) => {
            const o = batch[i]!;
            expect(q.body).toEqual(o.body);
            expect(q.sig).toBe(o.sig);
            expect(verifyRequestMac(reps[to]!, q, to)).toBe(verifyRequestMac(reps[to]!, o, to));
            expect(verifyClientSig(reps[to]!, q)).toBe(verifyClientSig(reps[to]!, o));
            if (o.mac) q.mac!.forEach((m, j) => expect(m).toBe(j === to ? o.mac![j] : null));
            else expect(q.mac).toBeUndefined();
          });
        }
        expect(JSON.parse(messageJson(pp))).toEqual(JSON.parse(JSON.stringify(pp)));
        expect(JSON.parse(recordsJson([{ kind: 'pre-prepare', msg: pp }]))).toEqual(JSON.parse(JSON.stringify([{ kind: 'pre-prepare', msg: pp }])));
      }
    });
});
describe('what covers a request signature inside a pre-prepare', () => {
  it('a request signature swapped inside a signed pre-prepare still matches its digest and signature', () => {
    const n = 4;
    const rs = Array.from({ length: n }, (_, i) => sec(`r${i}`));
    const ring = keyringFor(
      rs.map((s) => scheme.publicKey(s)),
      { c: scheme.publicKey(sec('c')) },
      false,
      'x',
    );
    const macs = new SimMacs('x', 'hmac');
    const reps = rs.map((s, i) => new KeyedAuthenticator(scheme, s, ring, new SimReplicaSessions(macs, i, () => true)));
    const ca = new KeyedAuthenticator(scheme, sec('c'), ring, new SimClientSessions(macs, 'c', n));
    const req = withMacs(ca, makeRequest(ca, 'c', 1, 'op'));
    const pp = makePrePrepare(reps[0]!, 0, 1, 0, [req]);
    const text = prePrepareJsonFor(pp, n)!(1);
    const forged = JSON.parse(text.replace(req.sig, 'ab'.repeat(32))) as SignedPrePrepare; // a Byzantine primary's edit
    expect(parseReplicaMessage(forged, limitsFor(defaultParams(n))).ok).toBe(true);
    expect(verifyReplicaSig(reps[1]!, forged)).toBe(true); // pre-prepare signature: still valid
    expect(batchDigest(reps[1]!, forged.batch)).toBe(pp.body.digest); // digest: still matches
    expect(verifyRequestMac(reps[1]!, forged.batch[0]!, 1)).toBe(false); // only the MAC (and sig) notice
    expect(verifyClientSig(reps[1]!, forged.batch[0]!)).toBe(false);
  });
});
