#!/usr/bin/env node
// Sign/verify throughput of each signature backend, on a message the size of a PREPARE body.
// Run after `npm run build`: node bench/crypto.mjs [iterations]
import { makeScheme, randomSecretKey } from '../dist/crypto/index.js';
import { canonicalBytes } from '../dist/core/canonical.js';

const iterations = Number(process.argv[2] ?? 3000);
const body = canonicalBytes({ type: 'prepare', view: 3, seq: 12345, digest: 'ab'.repeat(32), replica: 2 });
const rows = [];
let reference;
for (const name of ['node', 'noble', 'sim']) {
  const scheme = makeScheme(name);
  const sk = name === 'sim' ? 'cd'.repeat(32) : randomSecretKey();
  const pk = scheme.publicKey(sk);
  const sig = scheme.sign(sk, body);
  for (let i = 0; i < 200; i++) scheme.verify(pk, body, scheme.sign(sk, body)); // warm up
  let t = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) scheme.sign(sk, body);
  const signUs = Number(process.hrtime.bigint() - t) / 1e3 / iterations;
  t = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) if (!scheme.verify(pk, body, sig)) throw new Error('verify failed');
  const verifyUs = Number(process.hrtime.bigint() - t) / 1e3 / iterations;
  rows.push({ backend: name, signUs: +signUs.toFixed(1), verifyUs: +verifyUs.toFixed(1), verifiesPerSec: Math.round(1e6 / verifyUs) });
  if (name === 'node') reference = { sk, sig };
  if (name === 'noble') rows.at(-1).identicalSignatures = scheme.sign(reference.sk, body) === reference.sig;
}
console.table(rows);
const [n, nb] = rows;
console.log(`node:crypto verifies ${(nb.verifyUs / n.verifyUs).toFixed(1)}x faster than @noble/ed25519; signs ${(nb.signUs / n.signUs).toFixed(1)}x faster`);
