/**
 * Signatures behind one interface, so the backend is a measured choice (see bench/crypto.ts):
 * - `node`: node:crypto's native Ed25519 (default for real clusters; fastest here),
 * - `noble`: @noble/ed25519 (pure JS, audited; identical signatures),
 * - `sim`: a keyed-hash model of an unforgeable signature for the simulator: only the holder
 *   of a secret can produce a valid tag, and verification looks the secret up in a registry
 *   private to one simulation. Never use it outside the simulator.
 */
import { createHash, createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, randomBytes, type KeyObject } from 'node:crypto';
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import type { Authenticator, ClientId, FrozenMemo, Hex, ReplicaId, SessionMacs } from '../core/types.js';

ed.hashes.sha512 = sha512;

export type SchemeName = 'node' | 'noble' | 'sim';

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

export function sha256Hex(data: Uint8Array | string): Hex {
  return createHash('sha256').update(data).digest('hex');
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

/** Simulation scheme: tag = SHA-256(secret || data). One instance per simulation. */
export class SimScheme implements SignatureScheme {
  readonly name = 'sim' as const;
  private readonly secrets = new Map<Hex, Hex>();
  publicKey(secret: Hex): Hex {
    const pub = sha256Hex(`sim-public:${secret}`);
    this.secrets.set(pub, secret);
    return pub;
  }
  sign(secret: Hex, data: Uint8Array): Hex {
    return createHash('sha256').update(secret).update(data).digest('hex');
  }
  verify(publicKey: Hex, data: Uint8Array, sig: Hex): boolean {
    const secret = this.secrets.get(publicKey);
    if (secret === undefined || typeof sig !== 'string') return false;
    return this.sign(secret, data) === sig;
  }
  signPrefixed(secret: Hex, prefix: Uint8Array, data: Uint8Array): Hex {
    return createHash('sha256').update(secret).update(prefix).update(data).digest('hex');
  }
  verifyPrefixed(publicKey: Hex, prefix: Uint8Array, data: Uint8Array, sig: Hex): boolean {
    const secret = this.secrets.get(publicKey);
    if (secret === undefined || typeof sig !== 'string') return false;
    return this.signPrefixed(secret, prefix, data) === sig;
  }
}

export function makeScheme(name: SchemeName): SignatureScheme {
  switch (name) {
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
  ) {
    this.frozenMemo = memoFor(scheme, keyring);
  }
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
