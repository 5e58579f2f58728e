/**
 * The application wrapper every driver installs under a replica core, so that a replica can be
 * told (at any time, by the `corrupt-state` strategy) to let its state silently diverge. Until
 * then it is a transparent pass-through.
 */
import type { Application, ClientId, Hex } from '../core/types.js';
import { sha256Hex } from '../crypto/index.js';

/** An application that offers a direct state-corruption hook (the KV store does). */
export interface Corruptible {
  corrupt(key: string, value: string): void;
}

function isCorruptible(a: Application): a is Application & Corruptible {
  return typeof (a as Partial<Corruptible>).corrupt === 'function';
}

/** marks a snapshot of a generically corrupted application (see corruptNow) */
const SALT_MARK = '\u0000corrupt:';

export class CorruptibleApp implements Application {
  /** generic divergence, for applications without a corrupt() hook: mixed into the snapshot */
  private salt: string | null = null;
  private corruptionsCount = 0;

  /** copy-on-write snapshots, when the inner application has them (see Application.mark) */
  readonly mark?: () => number;
  readonly snapshotAt?: (mark: number) => string;
  readonly release?: (mark: number) => void;

  constructor(
    readonly inner: Application,
    private readonly rng: () => number,
  ) {
    if (inner.mark && inner.snapshotAt && inner.release) {
      // the generic corruption's salt at each mark, so snapshotAt(mark) is snapshot() then
      const salts = new Map<number, string | null>();
      this.mark = () => {
        const m = inner.mark!();
        salts.set(m, this.salt);
        return m;
      };
      this.snapshotAt = (m) => {
        const s = inner.snapshotAt!(m);
        const salt = salts.get(m) ?? null;
        return salt === null ? s : `${SALT_MARK}${salt}\u0000${s}`;
      };
      this.release = (m) => {
        inner.release!(m);
        for (const k of salts.keys()) if (k < m) salts.delete(k);
      };
    }
  }

  /** how many times corruptNow() ran */
  get corruptions(): number {
    return this.corruptionsCount;
  }

  /**
   * Silently diverge the state. With a Corruptible inner application (the KV store), overwrite
   * an existing key (or add one) with a value no client wrote, so later results differ too;
   * otherwise mix a random salt into the snapshot, which changes the state digest.
   */
  corruptNow(): { key?: string; value?: string } {
    this.corruptionsCount++;
    const value = `corrupt-${randomTag(this.rng)}`;
    if (isCorruptible(this.inner)) {
      let keys: string[] = [];
      try {
        const v: unknown = JSON.parse(this.inner.snapshot());
        if (Array.isArray(v)) keys = v.filter((e): e is [string, unknown] => Array.isArray(e) && typeof e[0] === 'string').map((e) => e[0]);
      } catch {
        keys = [];
      }
      const key = keys.length > 0 && this.rng() < 0.7 ? keys[Math.floor(this.rng() * keys.length)]! : `k${Math.floor(this.rng() * 3)}`;
      this.inner.corrupt(key, value);
      return { key, value };
    }
    this.salt = value;
    return { value };
  }

  execute(op: string, client: ClientId): string {
    return this.inner.execute(op, client);
  }
  isReadOnly(op: string): boolean {
    return this.inner.isReadOnly(op);
  }
  query(op: string, client: ClientId): string {
    return this.inner.query(op, client);
  }
  snapshot(): string {
    const s = this.inner.snapshot();
    return this.salt === null ? s : `${SALT_MARK}${this.salt}\u0000${s}`;
  }
  /** a salted snapshot is not JSON; the inner application's are whatever it says */
  snapshotIsJson(snapshot: string): boolean {
    return !snapshot.startsWith(SALT_MARK) && this.inner.snapshotIsJson?.(snapshot) === true;
  }
  /** Installing a snapshot (state transfer, restart) replaces the state, corruption included. */
  restore(snapshot: string): void {
    if (snapshot.startsWith(SALT_MARK)) {
      const end = snapshot.indexOf('\u0000', SALT_MARK.length);
      if (end < 0) throw new Error('malformed corrupted snapshot');
      this.inner.restore(snapshot.slice(end + 1));
      this.salt = snapshot.slice(SALT_MARK.length, end);
      return;
    }
    this.inner.restore(snapshot);
    this.salt = null;
  }
  digest(): Hex {
    return this.salt === null ? this.inner.digest() : sha256Hex(this.snapshot());
  }
  snapshotDigest(snapshot: string): Hex {
    if (snapshot.startsWith(SALT_MARK)) {
      const end = snapshot.indexOf('\u0000', SALT_MARK.length);
      if (end < 0) throw new Error('malformed corrupted snapshot');
      this.inner.snapshotDigest(snapshot.slice(end + 1)); // (well-formed)
      return sha256Hex(snapshot);
    }
    return this.inner.snapshotDigest(snapshot);
  }
}

function randomTag(rng: () => number): string {
  let s = '';
  for (let i = 0; i < 8; i++) s += Math.floor(rng() * 16).toString(16);
  return s;
}
