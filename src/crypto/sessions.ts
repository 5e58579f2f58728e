/**
 * Session keys and MAC authenticators (Castro & Liskov 2002, §3.2 and §5: MACs instead of
 * signatures where no third party needs to check them).
 *
 * A client and a replica agree on a session key when the client connects (src/runtime/transport.ts):
 * the replica's challenge carries an ephemeral X25519 public key signed with its Ed25519 key
 * (bound to the cluster, the replica and the connection's nonce); the client's hello carries its
 * own ephemeral key under its signature (bound to both ephemerals). Each side checks the other's
 * signature, then both derive the key: HKDF-SHA256 over the X25519 shared secret, salted with
 * the nonce, with both identities and both ephemerals in the info. 64 bytes come out: one
 * 32-byte key for request MACs (client to replica) and one for reply MACs (replica to client),
 * so a MAC in one direction is never valid in the other. A reconnect makes a new key.
 *
 * MACs are HMAC-SHA256 truncated to 16 bytes (32 hex digits): over a request's digest (the
 * SHA-256 of its canonical body) for requests, over a reply's canonical body for replies.
 */
import { createHmac, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, timingSafeEqual, type KeyObject } from 'node:crypto';
import { canonicalBytes } from '../core/canonical.js';
import type { ClientId, Hex, ReplicaId, SessionMacs } from '../core/types.js';
import { SodiumHmacKey, sodium } from './sodium.js';

export const MAC_BYTES = 16;

/** One direction-separated pair of session keys. */
export interface SessionKey {
  /** MACs of requests (client to replica) */
  readonly req: Buffer;
  /** MACs of replies (replica to client) */
  readonly rep: Buffer;
}

/**
 * HMAC-SHA256 of `data` under `key`: libsodium with the key's pad states computed once per key
 * (src/crypto/sodium.ts; about 3x cheaper than node:crypto's Hmac here, which schedules the key
 * on every call), else node:crypto. The same bytes either way.
 */
function hmacSha256(key: Buffer, data: Uint8Array): Buffer {
  const na = sodium();
  if (na === null) return createHmac('sha256', key).update(data).digest();
  let k = hmacKeys.get(key);
  if (k === undefined) {
    k = new SodiumHmacKey(na, key);
    hmacKeys.set(key, k);
  }
  return k.mac(data);
}
/** prepared keys, by the key's buffer (a session key's buffers live as long as the session) */
const hmacKeys = new WeakMap<Buffer, SodiumHmacKey>();

export function macHex(key: Buffer, data: Uint8Array): Hex {
  return hmacSha256(key, data).subarray(0, MAC_BYTES).toString('hex');
}

const MAC_HEX = /^[0-9a-f]{32}$/;

/** Constant-time comparison of a received MAC with the expected one. */
export function macEqual(key: Buffer, data: Uint8Array, mac: Hex): boolean {
  if (typeof mac !== 'string' || !MAC_HEX.test(mac)) return false;
  const want = hmacSha256(key, data).subarray(0, MAC_BYTES);
  return timingSafeEqual(want, Buffer.from(mac, 'hex'));
}

function digestBytes(digest: Hex): Uint8Array {
  return Buffer.from(digest, 'hex');
}

// ---------------------------------------------------------------------------------------------
// The key exchange
// ---------------------------------------------------------------------------------------------

/** RFC 8410 SPKI prefix of a raw X25519 public key. */
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const HEX64 = /^[0-9a-f]{64}$/;

export interface Ephemeral {
  /** raw X25519 public key, hex */
  publicKey: Hex;
  privateKey: KeyObject;
}

/** A fresh ephemeral X25519 key pair (one per connection). */
export function ephemeralX25519(): Ephemeral {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return { publicKey: Buffer.from(der.subarray(X25519_SPKI_PREFIX.length)).toString('hex'), privateKey };
}

/** What a replica signs to bind its ephemeral key to itself, the cluster and the connection. */
export function replicaSessionBytes(cluster: string, replica: ReplicaId, nonce: Hex, dh: Hex): Uint8Array {
  return canonicalBytes({ purpose: 'pbft-replica-session', cluster, replica, nonce, dh });
}

/** What a client signs in its hello when it takes part in the key exchange (both ephemerals). */
export function clientSessionHelloBytes(cluster: string, client: ClientId, to: ReplicaId, nonce: Hex, replicaDh: Hex, clientDh: Hex): Uint8Array {
  return canonicalBytes({ purpose: 'pbft-client-hello-session', cluster, client, to, nonce, replicaDh, clientDh });
}

export interface SessionContext {
  cluster: string;
  client: ClientId;
  clientKey: Hex;
  replica: ReplicaId;
  replicaKey: Hex;
  nonce: Hex;
  replicaDh: Hex;
  clientDh: Hex;
}

/**
 * Derive the session key from our ephemeral private key and the peer's ephemeral public key.
 * Null for a malformed peer key or a degenerate (all-zero) shared secret.
 */
export function deriveSessionKey(own: Ephemeral, peerDh: Hex, ctx: SessionContext): SessionKey | null {
  if (typeof peerDh !== 'string' || !HEX64.test(peerDh)) return null;
  try {
    const pub = createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, Buffer.from(peerDh, 'hex')]), format: 'der', type: 'spki' });
    const shared = diffieHellman({ privateKey: own.privateKey, publicKey: pub });
    if (shared.every((b) => b === 0)) return null;
    const info = canonicalBytes({ purpose: 'pbft-session/1', ...ctx });
    const okm = Buffer.from(hkdfSync('sha256', shared, Buffer.from(ctx.nonce, 'hex'), info, 64));
    return { req: okm.subarray(0, 32), rep: okm.subarray(32, 64) };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// The tables behind SessionMacs
// ---------------------------------------------------------------------------------------------

/** how many reply MACs ReplicaSessions remembers the key of (keyOfReplyMac) */
export const RECENT_REPLY_MACS = 4096;

/**
 * A replica's session keys, one per client: the key of its newest authenticated connection
 * (the transport sets and clears them). Requests are checked against it; replies are MAC'd
 * with it (the transport re-MACs for an older connection of the same client with its own key).
 */
export class ReplicaSessions implements SessionMacs {
  private readonly byClient = new Map<ClientId, SessionKey>();

  set(client: ClientId, key: SessionKey): void {
    this.byClient.delete(client);
    this.byClient.set(client, key);
  }
  /** forget `key` for `client` (a closed connection), falling back to `other` when given */
  clear(client: ClientId, key: SessionKey, other?: SessionKey): void {
    if (this.byClient.get(client) !== key) return;
    if (other) this.byClient.set(client, other);
    else this.byClient.delete(client);
  }
  get(client: ClientId): SessionKey | undefined {
    return this.byClient.get(client);
  }
  get size(): number {
    return this.byClient.size;
  }

  verifyRequestMac(client: ClientId, digest: Hex, mac: Hex): boolean {
    const k = this.byClient.get(client);
    return k !== undefined && macEqual(k.req, digestBytes(digest), mac);
  }
  replyMac(client: ClientId, data: Uint8Array): Hex | null {
    const k = this.byClient.get(client);
    if (k === undefined) return null;
    const mac = macHex(k.rep, data);
    // a MAC made again (the same reply to a retransmitted request) keeps its one slot: a second
    // slot would delete it when the first is reused
    if (!this.recentReplyMacs.has(mac)) {
      const old = this.replyMacRing[this.replyMacNext];
      if (old !== undefined) this.recentReplyMacs.delete(old);
      this.replyMacRing[this.replyMacNext] = mac;
      this.replyMacNext = (this.replyMacNext + 1) % RECENT_REPLY_MACS;
    }
    this.recentReplyMacs.set(mac, k);
    return mac;
  }
  /** the key a recent reply MAC was made with (the transport sends it as is on that key's connection) */
  keyOfReplyMac(mac: Hex): SessionKey | undefined {
    return this.recentReplyMacs.get(mac);
  }
  private readonly recentReplyMacs = new Map<Hex, SessionKey>();
  /**
   * recentReplyMacs' MACs in the order they were made, a ring of RECENT_REPLY_MACS: the oldest
   * is forgotten. (A Map used as its own queue, deleting keys().next(), makes every eviction skip
   * the entries deleted before it: 2.1 µs per reply against 0.2 µs here, 4,096 kept.)
   */
  private readonly replyMacRing: (Hex | undefined)[] = new Array(RECENT_REPLY_MACS).fill(undefined);
  private replyMacNext = 0;
  requestMacs(): (Hex | null)[] {
    return [];
  }
  verifyReplyMac(): boolean {
    return false;
  }
}

/** A client's session keys, one per replica (null: no session with it now). */
export class ClientSessions implements SessionMacs {
  private readonly keys: (SessionKey | null)[];

  constructor(n: number) {
    this.keys = Array.from({ length: n }, () => null);
  }
  set(replica: ReplicaId, key: SessionKey | null): void {
    if (replica >= 0 && replica < this.keys.length) this.keys[replica] = key;
  }
  get(replica: ReplicaId): SessionKey | null {
    return this.keys[replica] ?? null;
  }
  /** replicas with a session now */
  get established(): ReplicaId[] {
    return this.keys.flatMap((k, i) => (k ? [i] : []));
  }

  verifyRequestMac(): boolean {
    return false;
  }
  replyMac(): Hex | null {
    return null;
  }
  requestMacs(digest: Hex): (Hex | null)[] {
    const d = digestBytes(digest);
    return this.keys.map((k) => (k ? macHex(k.req, d) : null));
  }
  verifyReplyMac(replica: ReplicaId, data: Uint8Array, mac: Hex): boolean {
    const k = this.keys[replica];
    return k !== null && k !== undefined && macEqual(k.rep, data, mac);
  }
}

// The simulator's session tables and MAC model are in src/sim/sessions.ts (simulation only).
