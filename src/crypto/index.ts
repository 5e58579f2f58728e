/**
 * Signatures behind one interface, so the backend is a measured choice (see bench/crypto.ts):
 * - `sodium`: libsodium's Ed25519 through the sodium-native addon (src/crypto/sodium.ts): the
 *   default for new clusters where the addon loads; signs and verifies about twice as fast as
 *   node:crypto here, with identical signatures,
 * - `node`: node:crypto's native Ed25519 (OpenSSL; the fallback where the addon cannot load),
 * - `noble`: @noble/ed25519 (pure JS, audited; identical signatures),
 * - `sim`: a keyed-hash model of an unforgeable signature for the simulator: only the holder
 *   of a secret can produce a valid tag, and verification looks the secret up in a registry
 *   private to one simulation. Never use it outside the simulator.
 */
import * as nodeCrypto from 'node:crypto';
import { createHash, createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, randomBytes, type KeyObject } from 'node:crypto';
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import type { Authenticator, ClientId, FrozenMemo, Hex, ReplicaId, SessionMacs } from '../core/types.js';
import { type SodiumApi, sodium, sodiumLoadError } from './sodium.js';

ed.hashes.sha512 = sha512;

export type SchemeName = 'sodium' | 'node' | 'noble' | 'sim';

/** The backends a real cluster can use (cluster.json `crypto`). */
export type ClusterSchemeName = Exclude<SchemeName, 'sim'>;

export interface SignatureScheme {
  readonly name: SchemeName;
  /** public key (hex) for a 32-byte secret seed (hex) */
  publicKey(secret: Hex): Hex;
  sign(secret: Hex, data: Uint8Array): Hex;
  verify(publicKey: Hex, data: Uint8Array, sig: Hex): boolean;
  /**
   * Optional: the same over prefix || data without building that buffer (a scheme that
   * hashes its input can stream it). KeyedAuthenticator prefixes every message with the
   * cluster's domain.
   */
  signPrefixed?(secret: Hex, prefix: Uint8Array, data: Uint8Array): Hex;
  verifyPrefixed?(publicKey: Hex, prefix: Uint8Array, data: Uint8Array, sig: Hex): boolean;
}

const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;

/**
 * node:crypto's one-shot hash (Node >= 20.12): the same digest as createHash().update().digest()
 * without a Hash object per call, several times cheaper for the small inputs hashed here.
 */
const oneShotHash = (nodeCrypto as { hash?: (algorithm: string, data: Uint8Array | string, encoding: 'hex') => string }).hash;

export function sha256Hex(data: Uint8Array | string): Hex {
  return oneShotHash ? oneShotHash('sha256', data, 'hex') : createHash('sha256').update(data).digest('hex');
}

export function randomSecretKey(): Hex {
  return randomBytes(32).toString('hex');
}

// PKCS#8 / SPKI DER prefixes for raw Ed25519 keys (RFC 8410).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export class NodeEd25519 implements SignatureScheme {
  readonly name = 'node' as const;
  private readonly privCache = new Map<Hex, KeyObject>();
  private readonly pubCache = new Map<Hex, KeyObject | null>();

  private priv(secret: Hex): KeyObject {
    let k = this.privCache.get(secret);
    if (!k) {
      if (!HEX64.test(secret)) throw new Error('secret key must be 32 bytes of hex');
      k = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, Buffer.from(secret, 'hex')]), format: 'der', type: 'pkcs8' });
      this.privCache.set(secret, k);
    }
    return k;
  }
  private pub(publicKey: Hex): KeyObject | null {
    let k = this.pubCache.get(publicKey);
    if (k === undefined) {
      try {
        k = HEX64.test(publicKey) ? createPublicKey({ key: Buffer.concat([SPKI_PREFIX, Buffer.from(publicKey, 'hex')]), format: 'der', type: 'spki' }) : null;
      } catch {
        k = null;
      }
      if (this.pubCache.size > 10_000) this.pubCache.clear();
      this.pubCache.set(publicKey, k);
    }
    return k;
  }
  publicKey(secret: Hex): Hex {
    const der = createPublicKey(this.priv(secret)).export({ format: 'der', type: 'spki' });
    return Buffer.from(der.subarray(SPKI_PREFIX.length)).toString('hex');
  }
  sign(secret: Hex, data: Uint8Array): Hex {
    return nodeSign(null, data, this.priv(secret)).toString('hex');
  }
  verify(publicKey: Hex, data: Uint8Array, sig: Hex): boolean {
    const k = this.pub(publicKey);
    if (!k || !HEX128.test(sig)) return false;
    try {
      return nodeVerify(null, data, k, Buffer.from(sig, 'hex'));
    } catch {
      return false;
    }
  }
}

/**
 * libsodium's Ed25519 (crypto_sign_detached / crypto_sign_verify_detached). Both it and OpenSSL
 * verify cofactorless and reject S >= L; libsodium also rejects small-order and non-canonical
 * public keys and R values, which no key made by `pbft init` and no signature made with one can
 * be. test/unit/sodium.test.ts checks that the two agree on valid, altered and malformed
 * signatures; every member of one cluster uses the backend its cluster.json names anyway.
 */
export class SodiumEd25519 implements SignatureScheme {
  readonly name = 'sodium' as const;
  private readonly na: SodiumApi;
  private readonly secretCache = new Map<Hex, Buffer>();
  private readonly pubCache = new Map<Hex, Buffer | null>();

  constructor() {
    const na = sodium();
    if (na === null) throw new Error(`the "sodium" signature backend needs the sodium-native addon, which did not load (${sodiumLoadError()}); use "node"`);
    this.na = na;
  }
  /** libsodium's 64-byte secret key (seed || public key) for a 32-byte seed */
  private secretKey(secret: Hex): Buffer {
    let sk = this.secretCache.get(secret);
    if (!sk) {
      if (!HEX64.test(secret)) throw new Error('secret key must be 32 bytes of hex');
      const pk = Buffer.alloc(this.na.crypto_sign_PUBLICKEYBYTES);
      sk = Buffer.alloc(this.na.crypto_sign_SECRETKEYBYTES);
      this.na.crypto_sign_seed_keypair(pk, sk, Buffer.from(secret, 'hex'));
      this.secretCache.set(secret, sk);
    }
    return sk;
  }
  private pub(publicKey: Hex): Buffer | null {
    let k = this.pubCache.get(publicKey);
    if (k === undefined) {
      k = typeof publicKey === 'string' && HEX64.test(publicKey) ? Buffer.from(publicKey, 'hex') : null;
      if (this.pubCache.size > 10_000) this.pubCache.clear();
      this.pubCache.set(publicKey, k);
    }
    return k;
  }
  publicKey(secret: Hex): Hex {
    return this.secretKey(secret).subarray(32, 64).toString('hex');
  }
  sign(secret: Hex, data: Uint8Array): Hex {
    const sig = Buffer.allocUnsafe(this.na.crypto_sign_BYTES);
    this.na.crypto_sign_detached(sig, data, this.secretKey(secret));
    return sig.toString('hex');
  }
  verify(publicKey: Hex, data: Uint8Array, sig: Hex): boolean {
    const k = this.pub(publicKey);
    if (!k || typeof sig !== 'string' || !HEX128.test(sig)) return false;
    try {
      return this.na.crypto_sign_verify_detached(Buffer.from(sig, 'hex'), data, k);
    } catch {
      return false;
    }
  }
}

/** Can this process use the `sodium` backend? */
export function sodiumAvailable(): boolean {
  return sodium() !== null;
}

/** The backend for a new cluster: `sodium` where its addon loads, else `node`. */
export function defaultClusterScheme(): ClusterSchemeName {
  return sodiumAvailable() ? 'sodium' : 'node';
}

export class NobleEd25519 implements SignatureScheme {
  readonly name = 'noble' as const;
  publicKey(secret: Hex): Hex {
    return Buffer.from(ed.getPublicKey(Buffer.from(secret, 'hex'))).toString('hex');
  }
  sign(secret: Hex, data: Uint8Array): Hex {
    return Buffer.from(ed.sign(data, Buffer.from(secret, 'hex'))).toString('hex');
  }
  verify(publicKey: Hex, data: Uint8Array, sig: Hex): boolean {
    if (!HEX64.test(publicKey) || !HEX128.test(sig)) return false;
    try {
      return ed.verify(Buffer.from(sig, 'hex'), data, Buffer.from(publicKey, 'hex'));
    } catch {
      return false;
    }
  }
}

/** Signatures a SimScheme remembers (see below); past this many it forgets them all and starts again. */
const SIM_REMEMBERED_SIGNATURES = 100_000;

/**
 * Simulation scheme: tag = SHA-256(secret || data). One instance per simulation.
 *
 * Verifying recomputes that tag, unless the scheme made it itself: it remembers the tags it
 * produced with the exact bytes they cover (secret, prefix, data, copied at signing), and a tag
 * it remembers verifies iff the key's secret is the one it was made with and the bytes are the
 * same, which is exactly when recomputing would give it again. Anything else (a tag it forgot,
 * other bytes, another key) is recomputed as before. So every verdict is the one recomputing
 * gives, and the tags are the same bytes as ever (they key the Byzantine strategies' pools).
 * The bytes of a frozen body are computed once and shared (src/core/canonical.ts): when the
 * very arrays signed are the ones verified, they are not compared byte by byte (signed bytes
 * are not written to afterwards; the canonical memo of frozen bodies relies on that already).
 */
export class SimScheme implements SignatureScheme {
  readonly name = 'sim' as const;
  private readonly secrets = new Map<Hex, Hex>();
  /** tag -> secret || prefix || data it was made over, with the secret and the prefix length */
  private readonly made = new Map<Hex, { secret: Hex; secretLength: number; prefixLength: number; bytes: Buffer; prefix: Uint8Array; data: Uint8Array }>();
  publicKey(secret: Hex): Hex {
    const pub = sha256Hex(`sim-public:${secret}`);
    this.secrets.set(pub, secret);
    return pub;
  }
  sign(secret: Hex, data: Uint8Array): Hex {
    return this.signPrefixed(secret, EMPTY, data);
  }
  verify(publicKey: Hex, data: Uint8Array, sig: Hex): boolean {
    return this.verifyPrefixed(publicKey, EMPTY, data, sig);
  }
  signPrefixed(secret: Hex, prefix: Uint8Array, data: Uint8Array): Hex {
    const bytes = concatSecret(secret, prefix, data);
    const tag = sha256Hex(bytes);
    if (this.made.size >= SIM_REMEMBERED_SIGNATURES) this.made.clear();
    this.made.set(tag, { secret, secretLength: bytes.length - prefix.length - data.length, prefixLength: prefix.length, bytes, prefix, data });
    return tag;
  }
  verifyPrefixed(publicKey: Hex, prefix: Uint8Array, data: Uint8Array, sig: Hex): boolean {
    const secret = this.secrets.get(publicKey);
    if (secret === undefined || typeof sig !== 'string') return false;
    const m = this.made.get(sig);
    if (m !== undefined && m.secret === secret && m.data === data && m.prefix === prefix) return true;
    if (
      m !== undefined &&
      m.secret === secret &&
      m.prefixLength === prefix.length &&
      m.bytes.length === m.secretLength + prefix.length + data.length &&
      m.bytes.compare(prefix, 0, prefix.length, m.secretLength, m.secretLength + prefix.length) === 0 &&
      m.bytes.compare(data, 0, data.length, m.secretLength + prefix.length) === 0
    )
      return true;
    return sha256Hex(concatSecret(secret, prefix, data)) === sig;
  }
}

const EMPTY = new Uint8Array(0);

/** the bytes a SimScheme tag covers: the secret (hex, as UTF-8), the prefix, the data */
function concatSecret(secret: Hex, prefix: Uint8Array, data: Uint8Array): Buffer {
  const n = Buffer.byteLength(secret);
  const out = Buffer.allocUnsafe(n + prefix.length + data.length);
  out.write(secret, 0, 'utf8');
  out.set(prefix, n);
  out.set(data, n + prefix.length);
  return out;
}

export function makeScheme(name: SchemeName): SignatureScheme {
  switch (name) {
    case 'sodium':
      return new SodiumEd25519();
    case 'node':
      return new NodeEd25519();
    case 'noble':
      return new NobleEd25519();
    case 'sim':
      return new SimScheme();
  }
}

export interface Keyring {
  /** public keys of replicas 0..n-1 */
  replicas: Hex[];
  /** the cluster's identity: a digest of its name and membership (see clusterIdOf) */
  clusterId: Hex;
  /** what every signature of this cluster covers before the message: binds it to clusterId */
  domain: Uint8Array;
  /** public key of a client, or undefined for a stranger */
  clientKey(client: ClientId): Hex | undefined;
}

/** Client ids of the form `pk:<hex public key>` are self-certifying. */
export function selfCertifyingClientId(publicKey: Hex): ClientId {
  return `pk:${publicKey}`;
}

/**
 * A cluster's identity: SHA-256 over its name and its membership (the replicas' public keys, in
 * id order, so n too). Every protocol signature covers it (KeyedAuthenticator), so a message
 * signed in one cluster never verifies in another, even one that shares keys or ids.
 */
export function clusterIdOf(replicas: readonly Hex[], name = ''): Hex {
  return sha256Hex(`pbft/1 cluster\n${JSON.stringify(name)}\n${replicas.join(',')}`);
}

export function keyringFor(replicas: Hex[], clients: Record<ClientId, Hex>, openClients: boolean, clusterName = ''): Keyring {
  const map = new Map(Object.entries(clients));
  const clusterId = clusterIdOf(replicas, clusterName);
  return {
    replicas,
    clusterId,
    domain: new TextEncoder().encode(`pbft/1 ${clusterId}\n`),
    clientKey(client) {
      const k = map.get(client);
      if (k !== undefined) return k;
      // a replica's recovery request (Replica's recovery mode): signed with its own key
      if (client.startsWith('replica:')) {
        const id = client.slice(8);
        return /^(0|[1-9][0-9]{0,3})$/.test(id) ? replicas[Number(id)] : undefined;
      }
      if (openClients && client.startsWith('pk:') && HEX64.test(client.slice(3))) return client.slice(3);
      return undefined;
    },
  };
}

/** Memos of frozen-message results, one per (scheme, keyring): whatever verifies under one verifies under all. */
const memos = new WeakMap<SignatureScheme, WeakMap<Keyring, FrozenMemo>>();
function memoFor(scheme: SignatureScheme, keyring: Keyring): FrozenMemo {
  let byKeyring = memos.get(scheme);
  if (!byKeyring) {
    byKeyring = new WeakMap();
    memos.set(scheme, byKeyring);
  }
  let m = byKeyring.get(keyring);
  if (!m) {
    m = { replicaSig: new WeakMap(), clientSig: new WeakMap(), digest: new WeakMap() };
    byKeyring.set(keyring, m);
  }
  return m;
}

/** The Authenticator a node (replica or client) uses: its own secret and the keyring. */
export class KeyedAuthenticator implements Authenticator {
  readonly frozenMemo: FrozenMemo;
  constructor(
    private readonly scheme: SignatureScheme,
    private readonly secret: Hex | null,
    private readonly keyring: Keyring,
    /** session keys for MAC authenticators (src/crypto/sessions.ts); absent: signatures only */
    readonly macs?: SessionMacs,
    /** remember request digests by body (Authenticator.requestDigests): for drivers that never change a message once made */
    o: { rememberRequestDigests?: boolean } = {},
  ) {
    this.frozenMemo = memoFor(scheme, keyring);
    if (o.rememberRequestDigests) this.requestDigests = new WeakMap();
  }
  readonly requestDigests?: WeakMap<object, Hex>;
  /** the bytes a signature covers: the cluster's domain, then the message */
  private bound(data: Uint8Array): Uint8Array {
    const d = this.keyring.domain;
    const out = new Uint8Array(d.length + data.length);
    out.set(d);
    out.set(data, d.length);
    return out;
  }
  sign(data: Uint8Array): Hex {
    if (this.secret === null) throw new Error('this authenticator has no signing key');
    const s = this.scheme;
    return s.signPrefixed ? s.signPrefixed(this.secret, this.keyring.domain, data) : s.sign(this.secret, this.bound(data));
  }
  private verifyAs(key: Hex, data: Uint8Array, sig: Hex): boolean {
    const s = this.scheme;
    return s.verifyPrefixed ? s.verifyPrefixed(key, this.keyring.domain, data, sig) : s.verify(key, this.bound(data), sig);
  }
  verifyReplica(id: ReplicaId, data: Uint8Array, sig: Hex): boolean {
    const k = this.keyring.replicas[id];
    return k !== undefined && this.verifyAs(k, data, sig);
  }
  verifyClient(client: ClientId, data: Uint8Array, sig: Hex): boolean {
    const k = this.keyring.clientKey(client);
    return k !== undefined && this.verifyAs(k, data, sig);
  }
  hash(data: Uint8Array): Hex {
    return sha256Hex(data);
  }
}
