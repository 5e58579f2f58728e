/**
 * The I/O a ReplicaNode is given (js-libp2p style components), so that the same node code runs
 * over real sockets, files and timers (`pbft up`) and inside the deterministic simulator
 * (the node driver in src/sim/simulator.ts with src/sim/simdisk.ts: a simulated network, disk and virtual clock).
 *
 * Everything random or time-based the node does goes through these: the clock (now, timers,
 * "after this turn"), the entropy source (fault draws, recovery nonces), the storage (the
 * durable log and what happens when it is damaged) and the transport (frames to peers and
 * clients). The node itself never calls Date.now, Math.random, setTimeout or randomBytes.
 */
import { existsSync, readFileSync, renameSync, unlink } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { ClientId, PersistRecord, ReplicaId, SignedReply } from '../core/types.js';
import { PbftError, describeError } from '../errors.js';
import type { PhaseLine } from '../phaselog/index.js';
import { writeFileAtomicSync } from './fsutil.js';
import { DurableLog, type DurableLogOptions } from './storage.js';

/** Frames out: `{"type":"message"|"messages",...}` to a peer, `{"type":"reply",...}` to a client. */
export interface NodeTransport {
  /** false: not sent (no connection, queue full); the node does not retry, the protocol does */
  sendToPeer(to: ReplicaId, frame: string): boolean;
  /** `reply`: the message in `frame`, for a transport that re-authenticates it per connection */
  sendToClient(client: ClientId, frame: string, reply?: SignedReply): boolean;
  /** send what sendToClient queued on shared client connections (called at the end of each turn's effects) */
  flushClients?(): void;
}

export type TimerHandle = unknown;

export interface NodeClock {
  /** milliseconds (wall clock: since the epoch; simulated: virtual) */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(h: TimerHandle): void;
  /** run fn after the current turn, before any timer of a later time */
  setImmediate(fn: () => void): void;
}

export interface NodeEntropy {
  /** uniform in [0, 1): injected network faults, Byzantine strategies */
  random(): number;
  /** a fresh nonce for a recovery request (16 hex digits) */
  nonce(): string;
}

/** Where the node's phase records go (the phase log file, or nowhere in simulation). */
export interface PhaseSink {
  write(e: PhaseLine): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** What opening the durable log found. */
export interface NodeLogReport {
  records: number;
  /** a torn last append (a crash during a write) was cut off */
  tornTail: boolean;
  migrated?: { from: string; records: number; tornTail: boolean };
}

/** An open durable log: group commit, one frame per commit, at most one in flight. */
export interface NodeLog {
  readonly loadReport: NodeLogReport;
  /** the records read at open (once) */
  takeRecords(): PersistRecord[];
  /** append one frame and make it durable; cb once it is (or with the error that stops the node) */
  commit(records: PersistRecord[], cb: (err: PbftError | null) => void): void;
  /**
   * Opened with deferred deletions (a replica process with an audit ledger): delete the segments
   * that the stable checkpoint and checkpoint `upTo` both cover. Absent: the log deletes them itself.
   */
  deleteCovered?(upTo: number): void;
  /** with deleteCovered: the newest full checkpoint the log holds now (what deleteCovered may cover) */
  readonly stableSeq?: number;
  whenIdle(): Promise<void>;
  close(): void;
}

export interface NodeStorage {
  /** where the log is, for messages */
  readonly where: string;
  /** open the log; throws PbftError WAL_CORRUPT when a record before the last fails its checksum */
  open(): NodeLog;
  /** put a damaged log out of the way so that open() starts empty; returns where it went */
  moveAside(): string[];
  /**
   * The recovery a damaged log started, kept apart from the log until the log holds its
   * 'recovery' record: written (durably) before the damaged log is moved aside, read at every
   * open, cleared once the first commit after it is durable. So a crash between the move and
   * that commit restarts in recovery mode again, not as a fresh replica that votes at once.
   */
  recoveryIntent?: {
    read(): { timestamp: number; nonce: string } | null;
    write(r: { timestamp: number; nonce: string }): void;
    clear(): void;
  };
}

// ---------------------------------------------------------------------------------------------
// The real components
// ---------------------------------------------------------------------------------------------

export const realClock: NodeClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  setImmediate: (fn) => {
    setImmediate(fn);
  },
};

/** Fault draws from a cheap seeded stream (mulberry32, seeded from the OS), nonces from the OS. */
export function realEntropy(): NodeEntropy {
  let s = randomBytes(4).readUInt32LE(0);
  return {
    random: () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
    nonce: () => randomBytes(8).toString('hex'),
  };
}

/** The segment-file durable log of src/runtime/storage.ts. */
export class FileStorage implements NodeStorage {
  constructor(
    private readonly walDir: string,
    private readonly o: DurableLogOptions & { legacyFile: string },
  ) {}

  get where(): string {
    return this.walDir;
  }

  open(): DurableLog {
    return DurableLog.open(this.walDir, this.o);
  }

  moveAside(): string[] {
    return moveDamagedLog(this.walDir, this.o.legacyFile);
  }

  /** `<wal>.recovering`, beside the log (JSON {timestamp, nonce}); synced unless fsync is off */
  readonly recoveryIntent = {
    read: (): { timestamp: number; nonce: string } | null => {
      const file = `${this.walDir}.recovering`;
      if (!existsSync(file)) return null;
      try {
        const v = JSON.parse(readFileSync(file, 'utf8')) as { timestamp?: unknown; nonce?: unknown };
        if (
          typeof v.timestamp === 'number' &&
          Number.isSafeInteger(v.timestamp) &&
          v.timestamp > 0 &&
          typeof v.nonce === 'string' &&
          /^[0-9a-f]{1,64}$/.test(v.nonce)
        )
          return { timestamp: v.timestamp, nonce: v.nonce };
      } catch {
        /* unreadable: a torn marker write, below */
      }
      // a marker torn by a crash while it was written: the move had not happened yet (it is
      // written first), so the log it guards is still there and decides for itself
      return null;
    },
    write: (r: { timestamp: number; nonce: string }): void => {
      try {
        writeFileAtomicSync(`${this.walDir}.recovering`, JSON.stringify(r), 0o600, { fsync: this.o.fsync !== false });
      } catch (e) {
        throw new PbftError('WAL_IO', `cannot record the recovery of a damaged durable log in ${this.walDir}.recovering: ${describeError(e)}`, { cause: e });
      }
    },
    clear: (): void => {
      unlink(`${this.walDir}.recovering`, () => undefined);
    },
  };
}

/**
 * Move a damaged durable log out of the way (its wal directory, and the single-file log of
 * older versions if present) under a name that says when: `<path>.damaged-<time>`. Returns
 * the new paths.
 */
function moveDamagedLog(walDir: string, legacyFile: string): string[] {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const moved: string[] = [];
  for (const p of [walDir, legacyFile]) {
    if (!existsSync(p)) continue;
    const to = `${p}.damaged-${stamp}`;
    try {
      renameSync(p, to);
    } catch (e) {
      throw new PbftError('WAL_IO', `cannot move the damaged durable log ${p} aside to ${to}: ${describeError(e)}; move it yourself and restart`, { cause: e });
    }
    moved.push(to);
  }
  return moved;
}
