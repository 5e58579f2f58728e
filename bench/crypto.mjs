#!/usr/bin/env node
// Sign/verify cost of each signature backend on a message the size of a PREPARE body, and the
// cost of one MAC (HMAC-SHA256 of a request digest) with and without libsodium.
// Run after `npm run build`: node bench/crypto.mjs [iterations] [--rounds R]
// Rounds alternate the backends (the machine is shared and noisy); medians are printed.
import { createHmac, randomBytes } from 'node:crypto';
import { canonicalBytes } from '../dist/core/canonical.js';
import { makeScheme, randomSecretKey, sodiumAvailable } from '../dist/crypto/index.js';
import { macHex } from '../dist/crypto/sessions.js';
import { benchArgs, usageError } from './args.mjs';

const USAGE = `Sign/verify cost of each signature backend on a PREPARE-sized body, and one MAC's cost.

usage: node bench/crypto.mjs [iterations, default 3000] [--rounds 3]`;
const opts = benchArgs(USAGE, { rounds: { kind: 'count', default: 3 } }, { positionals: true });
const rounds = opts.rounds;
const iterations = Number(opts.positionals[0] ?? 3000);
if (opts.positionals.length > 1 || !/^\d+$/.test(opts.positionals[0] ?? '3000') || !(Number.isSafeInteger(iterations) && iterations >= 1))
  usageError(USAGE, `expected at most one argument, an integer count of iterations >= 1: ${JSON.stringify(opts.positionals.join(' '))}`);
const body = canonicalBytes({ type: 'prepare', view: 3, seq: 12345, digest: 'ab'.repeat(32), replica: 2 });
const names = [...(sodiumAvailable() ? ['sodium'] : []), 'node', 'noble', 'sim'];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = (n, f) => {
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) f();
  return Number(process.hrtime.bigint() - t) / 1e3 / n;
};

const setups = names.map((name) => {
  const scheme = makeScheme(name);
  const sk = name === 'sim' ? 'cd'.repeat(32) : randomSecretKey();
  const pk = scheme.publicKey(sk);
  const sig = scheme.sign(sk, body);
  for (let i = 0; i < 200; i++) scheme.verify(pk, body, scheme.sign(sk, body)); // warm up
  return { name, scheme, sk, pk, sig, signUs: [], verifyUs: [] };
});
// Ed25519 is deterministic: every real backend must give the same signature and public key
const reference = setups.find((s) => s.name === 'node');
for (const s of setups)
  if (s.name !== 'sim') {
    s.identical = s.scheme.sign(reference.sk, body) === reference.sig && s.scheme.publicKey(reference.sk) === reference.pk;
    s.crossVerifies = s.scheme.verify(reference.pk, body, reference.sig) && reference.scheme.verify(s.pk, body, s.sig);
  }

const key = randomBytes(32);
const digest = randomBytes(32);
const hmacUs = { node: [], pbft: [] };
if (macHex(key, digest) !== createHmac('sha256', key).update(digest).digest().subarray(0, 16).toString('hex')) throw new Error('MACs differ');

for (let r = 0; r < rounds; r++) {
  for (const s of setups) {
    const n = s.name === 'noble' ? Math.max(100, Math.floor(iterations / 10)) : iterations;
    s.signUs.push(time(n, () => s.scheme.sign(s.sk, body)));
    s.verifyUs.push(
      time(n, () => {
        if (!s.scheme.verify(s.pk, body, s.sig)) throw new Error('verify failed');
      }),
    );
  }
  hmacUs.node.push(time(iterations * 20, () => createHmac('sha256', key).update(digest).digest().subarray(0, 16).toString('hex')));
  hmacUs.pbft.push(time(iterations * 20, () => macHex(key, digest)));
}

console.table(
  setups.map((s) => ({
    backend: s.name,
    signUs: +median(s.signUs).toFixed(1),
    verifyUs: +median(s.verifyUs).toFixed(1),
    verifiesPerSec: Math.round(1e6 / median(s.verifyUs)),
    ...(s.name !== 'sim' ? { identicalSignatures: s.identical, crossVerifies: s.crossVerifies } : {}),
  })),
);
const by = Object.fromEntries(setups.map((s) => [s.name, { sign: median(s.signUs), verify: median(s.verifyUs) }]));
console.log(
  `node:crypto verifies ${(by.noble.verify / by.node.verify).toFixed(1)}x faster than @noble/ed25519; signs ${(by.noble.sign / by.node.sign).toFixed(1)}x faster`,
);
if (by.sodium)
  console.log(
    `libsodium verifies ${(by.node.verify / by.sodium.verify).toFixed(2)}x faster than node:crypto; signs ${(by.node.sign / by.sodium.sign).toFixed(2)}x faster`,
  );
else console.log('libsodium (sodium-native) did not load here: no sodium row');
console.log(
  `MAC (HMAC-SHA256 of a 32-byte digest, truncated): node:crypto Hmac ${median(hmacUs.node).toFixed(2)} µs, pbft's macHex ${median(hmacUs.pbft).toFixed(2)} µs (${sodiumAvailable() ? 'libsodium, pad states kept per key' : 'node:crypto'}): ${(median(hmacUs.node) / median(hmacUs.pbft)).toFixed(2)}x`,
);
