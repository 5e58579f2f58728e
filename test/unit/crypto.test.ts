/**
 * Signatures behind one interface, and the cluster identity every protocol signature covers.
 */
import { describe, expect, it } from 'vitest';
import { KeyedAuthenticator, clusterIdOf, keyringFor, makeScheme, sodiumAvailable, type SchemeName } from '../../src/crypto/index.js';
import { sign, verifyReplicaSig } from '../../src/core/messages.js';
import type { PrepareBody } from '../../src/core/types.js';

const secrets = [1, 2, 3, 4].map((i) => i.toString(16).padStart(64, '0'));

describe.each<SchemeName>([...(sodiumAvailable() ? (['sodium'] as const) : []), 'node', 'noble', 'sim'])('cluster identity (%s)', (name) => {
  const scheme = makeScheme(name);
  const pubs = secrets.map((s) => scheme.publicKey(s));
  const ring = (cluster: string, members = pubs) => keyringFor(members, {}, false, cluster);
  const prepare: PrepareBody = { type: 'prepare', view: 0, seq: 1, digest: 'ab'.repeat(32), replica: 1 };

  it('a message signed in one cluster verifies there and nowhere else', () => {
    const signed = sign(new KeyedAuthenticator(scheme, secrets[1]!, ring('alpha')), prepare);
    expect(verifyReplicaSig(new KeyedAuthenticator(scheme, null, ring('alpha')), signed)).toBe(true);
    // same keys, another cluster name: a replay across clusters fails
    expect(verifyReplicaSig(new KeyedAuthenticator(scheme, null, ring('beta')), signed)).toBe(false);
    // same name, another membership (a fifth replica): fails too
    const five = [...pubs, scheme.publicKey('05'.padStart(64, '0'))];
    expect(verifyReplicaSig(new KeyedAuthenticator(scheme, null, ring('alpha', five)), signed)).toBe(false);
  });

  it('the identity is a digest of the name and the ordered membership', () => {
    expect(clusterIdOf(pubs, 'a')).toBe(ring('a').clusterId);
    expect(clusterIdOf(pubs, 'a')).not.toBe(clusterIdOf([...pubs].reverse(), 'a'));
    expect(clusterIdOf(pubs, 'a')).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('backends agree', () => {
  it('node:crypto and @noble/ed25519 produce identical signatures, each verifies the other', () => {
    const node = makeScheme('node');
    const noble = makeScheme('noble');
    const data = new TextEncoder().encode('pbft');
    for (const s of secrets) {
      expect(node.publicKey(s)).toBe(noble.publicKey(s));
      const sig = node.sign(s, data);
      expect(noble.sign(s, data)).toBe(sig);
      expect(noble.verify(node.publicKey(s), data, sig)).toBe(true);
      expect(node.verify(noble.publicKey(s), data, sig)).toBe(true);
    }
  });
});
