/**
 * The simulator's session keys and MACs (simulation only: nothing outside src/sim and the tests
 * imports this module; test/unit/sim-macs.test.ts checks that the runtime cannot reach it).
 *
 * Every honest client and named Byzantine client of a simulation has a session with every
 * replica, as if each had connected once: the key of (client, replica) is derived from a
 * per-run salt, and only that client's table and that replica's table are given it (a Byzantine
 * replica holds its own sessions, never another replica's).
 *
 * Two ways to compute the MACs, one per simulation (`SimMacs`):
 * - `hmac`: HMAC-SHA256 truncated to 16 bytes, exactly as the runtime (src/crypto/sessions.ts),
 *   for `--crypto ed25519` (real cryptography throughout);
 * - `model` (default, with the `sim` signature scheme): a keyed-hash model of a MAC in the spirit
 *   of SimScheme. A tag is the first 16 bytes of SHA-256(key || data) (Node's one-shot hash,
 *   several times cheaper than an Hmac object per call), so only a holder of the key can make a
 *   valid tag for given bytes, and a tag made with another key, over other bytes or for another
 *   replica's entry does not verify. The model remembers the tags it made with the key and bytes
 *   they cover; a remembered tag verifies iff the key and the bytes are those, which is exactly
 *   when recomputing it would give it again; anything else is recomputed. Tags are 32 hex digits
 *   like real ones (messages keep their sizes) and are a pure function of key and bytes (runs
 *   stay reproducible from their seed; nothing random is consumed).
 *
 * Request MACs cover the request's digest: its 32 bytes under `hmac` (as the runtime), its hex
 * text under `model` (no conversion). Reply MACs cover the reply's canonical body. Keys are
 * direction-separated (one for requests, one for replies) as in the runtime.
 */
import type { ClientId, Hex, ReplicaId, SessionMacs } from '../core/types.js';
import { sha256Hex } from '../crypto/index.js';
import { MAC_BYTES, macEqual, macHex } from '../crypto/sessions.js';

export type SimMacKind = 'model' | 'hmac';

/** One key of the simulator: its hex text (the model's) and its bytes (HMAC's). */
export interface SimKey {
  readonly hex: string;
  readonly bytes: Buffer;
}

/** A direction-separated pair: requests (client to replica) and replies (replica to client). */
export interface SimSessionKey {
  readonly req: SimKey;
  readonly rep: SimKey;
}

const MAC_HEX_LENGTH = 2 * MAC_BYTES;

/** Tags a model remembers; past this many it forgets them all and starts again. */
const SIM_REMEMBERED_MACS = 100_000;

interface Made {
  /** the key's hex text */
  key: string;
  /** request MACs: the digest */
  digest?: Hex;
  /** reply MACs: key || data as hashed, and the data array it was made over */
  bytes?: Buffer;
  data?: Uint8Array;
}

/** The session keys and MAC function of one simulation. */
export class SimMacs {
  private readonly made = new Map<Hex, Made>();
  private readonly keys = new Map<string, SimSessionKey>();

  constructor(
    private readonly salt: string,
    readonly kind: SimMacKind = 'model',
  ) {}

  /**
   * The session key of (client, replica), derived from the salt as if the handshake had run
   * once when the client connected. Given only to that client's and that replica's tables.
   */
  sessionKey(client: ClientId, replica: ReplicaId): SimSessionKey {
    const id = `${replica}/${client}`;
    let key = this.keys.get(id);
    if (key === undefined) {
      const k = (dir: string): SimKey => {
        const hex = sha256Hex(`pbft-sim-session/${this.salt}/${dir}/${client}/${replica}`);
        return { hex, bytes: Buffer.from(hex, 'hex') };
      };
      key = { req: k('req'), rep: k('rep') };
      if (this.keys.size > 100_000) this.keys.clear();
      this.keys.set(id, key);
    }
    return key;
  }

  /** a client's MAC of a request digest under a request key */
  requestMac(key: SimKey, digest: Hex): Hex {
    if (this.kind === 'hmac') return macHex(key.bytes, Buffer.from(digest, 'hex'));
    const tag = sha256Hex(key.hex + digest).slice(0, MAC_HEX_LENGTH);
    this.remember(tag, { key: key.hex, digest });
    return tag;
  }

  verifyRequestMac(key: SimKey, digest: Hex, mac: Hex): boolean {
    if (typeof mac !== 'string') return false;
    if (this.kind === 'hmac') return macEqual(key.bytes, Buffer.from(digest, 'hex'), mac);
    const m = this.made.get(mac);
    if (m !== undefined && m.key === key.hex && m.digest === digest) return true;
    return mac.length === MAC_HEX_LENGTH && sha256Hex(key.hex + digest).slice(0, MAC_HEX_LENGTH) === mac;
  }

  /** a replica's MAC of a reply's canonical body under a reply key */
  replyMac(key: SimKey, data: Uint8Array): Hex {
    if (this.kind === 'hmac') return macHex(key.bytes, data);
    const bytes = keyed(key.hex, data);
    const tag = sha256Hex(bytes).slice(0, MAC_HEX_LENGTH);
    this.remember(tag, { key: key.hex, bytes, data });
    return tag;
  }

  verifyReplyMac(key: SimKey, data: Uint8Array, mac: Hex): boolean {
    if (typeof mac !== 'string') return false;
    if (this.kind === 'hmac') return macEqual(key.bytes, data, mac);
    const m = this.made.get(mac);
    if (m !== undefined && m.key === key.hex && m.bytes !== undefined) {
      // the very array it was made over (canonical bytes are never written to once made), or equal bytes
      if (m.data === data) return true;
      const off = m.bytes.length - m.data!.length;
      if (m.data!.length === data.length && m.bytes.compare(data, 0, data.length, off) === 0) return true;
    }
    return mac.length === MAC_HEX_LENGTH && sha256Hex(keyed(key.hex, data)).slice(0, MAC_HEX_LENGTH) === mac;
  }

  private remember(tag: Hex, m: Made): void {
    if (this.made.size >= SIM_REMEMBERED_MACS) this.made.clear();
    this.made.set(tag, m);
  }
}

/** key (hex text, as ASCII) || data: what a model reply MAC covers */
function keyed(keyHex: string, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(keyHex.length + data.length);
  out.write(keyHex, 0, 'latin1');
  out.set(data, keyHex.length);
  return out;
}

/** A simulated replica's table: a session with every client for which `hasSession` holds. */
export class SimReplicaSessions implements SessionMacs {
  private readonly cache = new Map<ClientId, SimSessionKey | null>();
  constructor(
    private readonly macs: SimMacs,
    private readonly replica: ReplicaId,
    private readonly hasSession: (client: ClientId) => boolean,
  ) {}
  private keyOf(client: ClientId): SimSessionKey | null {
    let k = this.cache.get(client);
    if (k === undefined) {
      k = this.hasSession(client) ? this.macs.sessionKey(client, this.replica) : null;
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(client, k);
    }
    return k;
  }
  verifyRequestMac(client: ClientId, digest: Hex, mac: Hex): boolean {
    const k = this.keyOf(client);
    return k !== null && this.macs.verifyRequestMac(k.req, digest, mac);
  }
  replyMac(client: ClientId, data: Uint8Array): Hex | null {
    const k = this.keyOf(client);
    return k === null ? null : this.macs.replyMac(k.rep, data);
  }
  requestMacs(): (Hex | null)[] {
    return [];
  }
  verifyReplyMac(): boolean {
    return false;
  }
}

/** A simulated client's table: sessions with every replica. */
export class SimClientSessions implements SessionMacs {
  private readonly keys: SimSessionKey[];
  constructor(
    private readonly macs: SimMacs,
    client: ClientId,
    n: number,
  ) {
    this.keys = Array.from({ length: n }, (_, r) => macs.sessionKey(client, r));
  }
  verifyRequestMac(): boolean {
    return false;
  }
  replyMac(): Hex | null {
    return null;
  }
  requestMacs(digest: Hex): (Hex | null)[] {
    return this.keys.map((k) => this.macs.requestMac(k.req, digest));
  }
  verifyReplyMac(replica: ReplicaId, data: Uint8Array, mac: Hex): boolean {
    const k = this.keys[replica];
    return k !== undefined && this.macs.verifyReplyMac(k.rep, data, mac);
  }
}
