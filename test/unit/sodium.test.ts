/**
 * The libsodium backend (src/crypto/sodium.ts) against node:crypto: the same keys, the same
 * signatures, the same verdicts on valid, altered and malformed signatures (a backend that
 * accepted what another rejects would let a Byzantine signer split replicas on one certificate),
 * and the same HMAC-SHA256 bytes.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeScheme, NodeEd25519, randomSecretKey, SodiumEd25519, sodiumAvailable } from '../../src/crypto/index.js';
import { macEqual, macHex } from '../../src/crypto/sessions.js';
import { loadCluster } from '../../src/runtime/config.js';
import { initCluster } from '../../src/runtime/init.js';

const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function leToBig(b: Buffer): bigint {
  let x = 0n;
  for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]!);
  return x;
}
function bigToLe(x: bigint, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return b;
}

/** Encodings of small-order points of edwards25519 (the identity, order 2 and order 4 points). */
const SMALL_ORDER = [`01${'00'.repeat(31)}`, `ec${'ff'.repeat(30)}7f`, `00${'00'.repeat(30)}80`, `00${'00'.repeat(31)}`];

describe.runIf(sodiumAvailable())('the sodium signature backend', () => {
  const sodium = new SodiumEd25519();
  const node = new NodeEd25519();

  it('derives the same public keys and makes the same signatures as node:crypto', () => {
    for (let i = 0; i < 50; i++) {
      const sk = randomSecretKey();
      const msg = randomBytes(i * 7);
      expect(sodium.publicKey(sk)).toBe(node.publicKey(sk));
      const sig = sodium.sign(sk, msg);
      expect(sig).toBe(node.sign(sk, msg));
      expect(sodium.verify(node.publicKey(sk), msg, sig)).toBe(true);
      expect(node.verify(sodium.publicKey(sk), msg, sig)).toBe(true);
    }
  });

  it('agrees with node:crypto on every altered or malformed signature', () => {
    const sk = randomSecretKey();
    const pk = node.publicKey(sk);
    const other = node.publicKey(randomSecretKey());
    const msg = Buffer.from('pbft: agree on what verifies');
    const sig = Buffer.from(node.sign(sk, msg), 'hex');
    const cases: { what: string; pk: string; msg: Uint8Array; sig: string }[] = [
      { what: 'valid', pk, msg, sig: sig.toString('hex') },
      { what: 'another message', pk, msg: Buffer.from('pbft: agree on what verifies!'), sig: sig.toString('hex') },
      { what: 'another key', pk: other, msg, sig: sig.toString('hex') },
      { what: 'empty', pk, msg, sig: '' },
      { what: 'short', pk, msg, sig: sig.toString('hex').slice(0, 126) },
      { what: 'upper-case hex', pk, msg, sig: sig.toString('hex').toUpperCase() },
      { what: 'all zero', pk, msg, sig: '00'.repeat(64) },
      { what: 'S + L (not reduced)', pk, msg, sig: Buffer.concat([sig.subarray(0, 32), bigToLe(leToBig(sig.subarray(32)) + L, 32)]).toString('hex') },
      { what: 'S = L', pk, msg, sig: Buffer.concat([sig.subarray(0, 32), bigToLe(L, 32)]).toString('hex') },
      { what: 'top bit of S set', pk, msg, sig: Buffer.concat([sig.subarray(0, 63), Buffer.from([sig[63]! | 0x80])]).toString('hex') },
      ...SMALL_ORDER.map((p) => ({
        what: `R = small-order ${p.slice(0, 4)}`,
        pk,
        msg,
        sig: Buffer.concat([Buffer.from(p, 'hex'), sig.subarray(32)]).toString('hex'),
      })),
      ...SMALL_ORDER.map((p) => ({ what: `public key small-order ${p.slice(0, 4)}`, pk: p, msg, sig: sig.toString('hex') })),
      { what: 'public key not hex', pk: 'zz'.repeat(32), msg, sig: sig.toString('hex') },
    ];
    for (let bit = 0; bit < 512; bit += 37) {
      const b = Buffer.from(sig);
      b[bit >> 3]! ^= 1 << (bit & 7);
      cases.push({ what: `bit ${bit} flipped`, pk, msg, sig: b.toString('hex') });
    }
    for (const c of cases)
      expect({ what: c.what, sodium: sodium.verify(c.pk, c.msg, c.sig) }).toEqual({ what: c.what, sodium: node.verify(c.pk, c.msg, c.sig) });
    expect(sodium.verify(pk, msg, sig.toString('hex'))).toBe(true);
  });

  it('is what makeScheme("sodium") gives, and what a new cluster uses unless told otherwise', async () => {
    expect(makeScheme('sodium').name).toBe('sodium');
    const root = await mkdtemp(join(tmpdir(), 'pbft-sodium-'));
    try {
      const made = await initCluster({ dir: join(root, 'a'), replicas: 4, ports: [41101, 41102, 41103, 41104] });
      expect(made.cluster.config.crypto).toBe('sodium');
      expect((await loadCluster(join(root, 'a'))).scheme.name).toBe('sodium');
      const asked = await initCluster({ dir: join(root, 'b'), replicas: 4, ports: [41111, 41112, 41113, 41114], crypto: 'node' });
      expect(asked.cluster.config.crypto).toBe('node');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('MACs', () => {
  it('are HMAC-SHA256, truncated to 16 bytes, for keys and messages of every size', () => {
    for (const keyLength of [1, 16, 32, 63, 64, 65, 100]) {
      const key = randomBytes(keyLength);
      for (const dataLength of [0, 1, 32, 55, 56, 63, 64, 65, 1000]) {
        const data = randomBytes(dataLength);
        const want = createHmac('sha256', key).update(data).digest().subarray(0, 16).toString('hex');
        expect(macHex(key, data)).toBe(want);
        expect(macHex(key, data)).toBe(want); // again: the prepared key is reused
        expect(macEqual(key, data, want)).toBe(true);
        expect(macEqual(key, data, `${want.slice(0, 31)}${want[31] === '0' ? '1' : '0'}`)).toBe(false);
      }
    }
  });
});

describe('without the addon (PBFT_SODIUM=0)', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it('falls back to node:crypto with the same MACs, and refuses the sodium backend with a clear error', async () => {
    vi.stubEnv('PBFT_SODIUM', '0');
    vi.resetModules();
    const sod = await import('../../src/crypto/sodium.js');
    const idx = await import('../../src/crypto/index.js');
    const ses = await import('../../src/crypto/sessions.js');
    expect(sod.sodium()).toBeNull();
    expect(sod.sodiumLoadError()).toMatch(/PBFT_SODIUM=0/);
    expect(idx.defaultClusterScheme()).toBe('node');
    expect(() => idx.makeScheme('sodium')).toThrow(/sodium-native addon.*use "node"/);
    const key = randomBytes(32);
    const data = randomBytes(32);
    expect(ses.macHex(key, data)).toBe(createHmac('sha256', key).update(data).digest().subarray(0, 16).toString('hex'));
  });

  it('init falls back to node; a cluster that names sodium cannot load, and says why', async () => {
    const root = await mkdtemp(join(tmpdir(), 'pbft-nosodium-'));
    try {
      // made while the addon loads (when it does here), then read without it
      const made = await initCluster({
        dir: join(root, 's'),
        replicas: 4,
        ports: [41121, 41122, 41123, 41124],
        ...(sodiumAvailable() ? { crypto: 'sodium' as const } : {}),
      });
      vi.stubEnv('PBFT_SODIUM', '0');
      vi.resetModules();
      const init = await import('../../src/runtime/init.js');
      const config = await import('../../src/runtime/config.js');
      const plain = await init.initCluster({ dir: join(root, 'n'), replicas: 4, ports: [41131, 41132, 41133, 41134] });
      expect(plain.cluster.config.crypto).toBe('node');
      await expect(init.initCluster({ dir: join(root, 'x'), replicas: 4, ports: [41141, 41142, 41143, 41144], crypto: 'sodium' })).rejects.toMatchObject({
        code: 'BAD_ARGUMENT',
        message: expect.stringMatching(/--crypto sodium needs the sodium-native addon/),
      });
      if (made.cluster.config.crypto === 'sodium')
        await expect(config.loadCluster(join(root, 's'))).rejects.toMatchObject({
          code: 'CONFIG_INVALID',
          message: expect.stringMatching(/crypto "sodium" needs the sodium-native addon.*PBFT_SODIUM=0/),
          hint: expect.stringMatching(/"crypto": "node"/),
        });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
