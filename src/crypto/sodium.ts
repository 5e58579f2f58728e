/**
 * libsodium through the `sodium-native` addon (prebuilt binaries shipped inside the npm package,
 * loaded at run time): Ed25519 and HMAC-SHA256 about twice and three times as fast as node:crypto
 * here (`node bench/crypto.mjs`). Loaded lazily; where the addon cannot load (a platform without
 * a prebuilt binary) everything falls back to node:crypto, with the same results: Ed25519
 * signatures are deterministic and HMAC-SHA256 is HMAC-SHA256 (test/unit/sodium.test.ts compares
 * them, and both libraries' verdicts on malformed signatures).
 *
 * `PBFT_SODIUM=0` in the environment keeps the addon unloaded (for A/B measurements and to rule
 * it out when debugging); a cluster whose cluster.json says `"crypto": "sodium"` then cannot
 * start, with an error that says so.
 */
import { createRequire } from 'node:module';

/** The part of sodium-native's API used here. */
export interface SodiumApi {
  crypto_sign_PUBLICKEYBYTES: number;
  crypto_sign_SECRETKEYBYTES: number;
  crypto_sign_BYTES: number;
  crypto_sign_seed_keypair(pk: Buffer, sk: Buffer, seed: Buffer): void;
  crypto_sign_detached(sig: Buffer, message: Uint8Array, sk: Buffer): void;
  crypto_sign_verify_detached(sig: Uint8Array, message: Uint8Array, pk: Buffer): boolean;
  crypto_hash_sha256_STATEBYTES: number;
  crypto_hash_sha256_init(state: Buffer): void;
  crypto_hash_sha256_update(state: Buffer, data: Uint8Array): void;
  crypto_hash_sha256_final(state: Buffer, out: Buffer): void;
}

let loaded: SodiumApi | null | undefined;
let loadError = '';

/** The addon, or null where it cannot load (or PBFT_SODIUM=0). */
export function sodium(): SodiumApi | null {
  if (loaded !== undefined) return loaded;
  if (process.env.PBFT_SODIUM === '0') {
    loadError = 'disabled by PBFT_SODIUM=0';
    loaded = null;
    return loaded;
  }
  try {
    const api = createRequire(import.meta.url)('sodium-native') as SodiumApi;
    loaded = typeof api.crypto_sign_verify_detached === 'function' && typeof api.crypto_hash_sha256_update === 'function' ? api : null;
    if (loaded === null) loadError = 'sodium-native loaded without the functions pbft needs';
  } catch (e) {
    loadError = e instanceof Error ? e.message.split('\n')[0]! : String(e);
    loaded = null;
  }
  return loaded;
}

/** Why the addon is not available ('' when it is). */
export function sodiumLoadError(): string {
  sodium();
  return loadError;
}

/**
 * HMAC-SHA256 under one key, with the key's inner and outer SHA-256 states computed once
 * (RFC 2104: H((K ^ opad) || H((K ^ ipad) || m)), each pad one 64-byte block): a MAC then costs
 * two short SHA-256 continuations and no key schedule. Not safe for concurrent use (one scratch
 * state per key), which a single-threaded event loop never needs.
 */
export class SodiumHmacKey {
  private readonly inner: Buffer;
  private readonly outer: Buffer;
  private readonly state: Buffer;
  private readonly innerDigest = Buffer.alloc(32);

  constructor(
    private readonly na: SodiumApi,
    key: Uint8Array,
  ) {
    const block = Buffer.alloc(64);
    if (key.length > 64) {
      const st = Buffer.alloc(na.crypto_hash_sha256_STATEBYTES);
      na.crypto_hash_sha256_init(st);
      na.crypto_hash_sha256_update(st, key);
      na.crypto_hash_sha256_final(st, block.subarray(0, 32));
    } else block.set(key);
    const pad = Buffer.alloc(64);
    this.inner = Buffer.alloc(na.crypto_hash_sha256_STATEBYTES);
    this.outer = Buffer.alloc(na.crypto_hash_sha256_STATEBYTES);
    this.state = Buffer.alloc(na.crypto_hash_sha256_STATEBYTES);
    for (let i = 0; i < 64; i++) pad[i] = block[i]! ^ 0x36;
    na.crypto_hash_sha256_init(this.inner);
    na.crypto_hash_sha256_update(this.inner, pad);
    for (let i = 0; i < 64; i++) pad[i] = block[i]! ^ 0x5c;
    na.crypto_hash_sha256_init(this.outer);
    na.crypto_hash_sha256_update(this.outer, pad);
  }

  /** the 32-byte HMAC of `data`, written into a new buffer */
  mac(data: Uint8Array): Buffer {
    const na = this.na;
    const st = this.state;
    this.inner.copy(st);
    na.crypto_hash_sha256_update(st, data);
    na.crypto_hash_sha256_final(st, this.innerDigest);
    this.outer.copy(st);
    na.crypto_hash_sha256_update(st, this.innerDigest);
    const out = Buffer.allocUnsafe(32);
    na.crypto_hash_sha256_final(st, out);
    return out;
  }
}
