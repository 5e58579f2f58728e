/**
 * The simulated disk of one replica under the node driver (`driver: 'node'`): the NodeStorage a
 * ReplicaNode writes its durable log to, in memory, with the same frame semantics as the
 * segment-file log (src/runtime/storage.ts):
 *
 * - commit() appends ONE frame (the records of a group commit) and reports it durable after a
 *   latency drawn from the seed, through the node's own (virtual) clock. At most one frame is in
 *   flight: a second commit before the first is durable is a driver bug, and throws.
 * - A crash loses the frame in flight, or it reached the disk whole; either way its callback
 *   never comes (the node that waited is gone), so nothing that depended on it was sent. With a
 *   `torn` storage fault the frame is half written instead: at the next open its checksum fails
 *   at the end of the log and it is cut off, as the runtime does with a torn append.
 * - A `corrupt` fault flips a bit in a durable frame before the last: the next open() throws
 *   WAL_CORRUPT, like DurableLog.open, and the node moves the log aside (moveAside() empties the
 *   disk) and starts empty in recovery mode.
 *
 * The log folds itself (compactRecords) when it has doubled since the last time, between frames:
 * the segment-file log drops covered segments at stable checkpoints to the same effect.
 */
import { compactRecords } from '../core/replica.js';
import type { PersistRecord } from '../core/types.js';
import { PbftError } from '../errors.js';
import type { NodeClock, NodeLog, NodeLogReport, NodeStorage } from '../runtime/node-io.js';
import { newestFullCheckpoint } from './checkers.js';
import type { Rng } from './rng.js';

interface Frame {
  records: PersistRecord[];
  /** half written by a crash: its checksum fails */
  torn?: boolean;
  /** a flipped bit: its checksum fails */
  corrupt?: boolean;
}

export interface SimDiskHooks {
  /** every frame handed to the disk, when it is handed over (before it is durable) */
  onWrite(records: readonly PersistRecord[]): void;
  /**
   * what open() found: a torn last frame cut off, or a corrupt log refused; `fullCheckpoint`:
   * the seq of the newest full checkpoint among the records the node starts from (0: none)
   */
  onOpen(found: { torn: number; corruptAt: number | null; frames: number; records: number; fullCheckpoint: number }): void;
}

export class SimDisk implements NodeStorage {
  private frames: Frame[] = [];
  /** the frame being written (at most one), and its completion */
  private inFlight: { frame: Frame; cb: (err: PbftError | null) => void } | null = null;
  private compactAt: number;
  /** bumped at each crash: a completion from before it is never delivered */
  private epoch = 0;
  /** the clock of the node now using the disk (its completions die with that node) */
  private clock: NodeClock | null = null;
  writes = 0;

  constructor(
    readonly where: string,
    private readonly rng: Rng,
    private readonly hooks: SimDiskHooks,
    private readonly compactBase: number,
  ) {
    this.compactAt = compactBase;
  }

  /** a frame is in flight: a crash now loses it (or tears it) */
  get writing(): boolean {
    return this.inFlight !== null;
  }

  get recordCount(): number {
    let n = 0;
    for (const f of this.frames) n += f.records.length;
    return n;
  }

  /**
   * The machine stops. The frame in flight is lost, or reached the disk whole though its
   * completion never came (half the time each), or with a `torn` fault is half written; a
   * `corrupt` fault flips a bit in an older frame. Returns what became of the frame in flight.
   */
  crash(fault: 'torn' | 'corrupt' | null): 'none' | 'lost' | 'written' | 'torn' {
    this.epoch++;
    const w = this.inFlight;
    this.inFlight = null;
    let fate: 'none' | 'lost' | 'written' | 'torn' = 'none';
    if (w && fault === 'torn') {
      this.frames.push({ records: w.frame.records, torn: true });
      fate = 'torn';
    } else if (w) {
      fate = this.rng.bool(0.5) ? 'written' : 'lost';
      if (fate === 'written') this.frames.push(w.frame);
    }
    if (fault === 'corrupt' && this.frames.length >= 2) this.frames[this.rng.int(0, this.frames.length - 2)]!.corrupt = true;
    return fate;
  }

  /** the node that will open the disk next (at each start) */
  attach(clock: NodeClock): void {
    this.clock = clock;
  }

  open(): NodeLog {
    if (this.inFlight) throw new Error('simulated disk opened while a frame is in flight');
    let torn = 0;
    const last = this.frames[this.frames.length - 1];
    if (last && (last.torn || last.corrupt)) {
      // a bad LAST frame: a torn append, never durable, never relied on: cut off
      torn = last.records.length;
      this.frames.pop();
    }
    const bad = this.frames.findIndex((f) => f.torn || f.corrupt);
    if (bad >= 0) {
      this.hooks.onOpen({ torn, corruptAt: bad, frames: this.frames.length, records: this.recordCount, fullCheckpoint: 0 });
      throw new PbftError(
        'WAL_CORRUPT',
        `${this.where}: frame ${bad + 1} of ${this.frames.length}: checksum mismatch; the replica cannot trust its durable log`,
      );
    }
    const records = compactRecords(this.frames.flatMap((f) => f.records));
    this.hooks.onOpen({ torn, corruptAt: null, frames: this.frames.length, records: records.length, fullCheckpoint: newestFullCheckpoint(records) });
    // the folded log is what is on disk from now on
    this.frames = records.length > 0 ? [{ records: [...records] }] : [];
    this.compactAt = Math.max(this.compactBase, 2 * records.length);
    let loaded: PersistRecord[] | null = [...records];
    const report: NodeLogReport = { records: records.length, tornTail: torn > 0 };
    const epoch = this.epoch;
    return {
      loadReport: report,
      takeRecords: () => {
        const r = loaded ?? [];
        loaded = null;
        return r;
      },
      commit: (recs, cb) => this.commit(epoch, recs, cb),
      whenIdle: () => Promise.resolve(),
      close: () => undefined,
    };
  }

  moveAside(): string[] {
    this.frames = [];
    return [`${this.where}.damaged`];
  }

  /** the recovery recorded beside the log (NodeStorage.recoveryIntent): durable at once, as a synced file */
  private intent: { timestamp: number; nonce: string } | null = null;
  readonly recoveryIntent = {
    read: () => (this.intent ? { ...this.intent } : null),
    write: (r: { timestamp: number; nonce: string }) => {
      this.intent = { ...r };
    },
    clear: () => {
      this.intent = null;
    },
  };

  private commit(epoch: number, records: PersistRecord[], cb: (err: PbftError | null) => void): void {
    if (epoch !== this.epoch) return; // a node from before a crash (gone)
    if (this.inFlight) throw new Error('group commit broken: a second frame was committed while one is in flight');
    this.writes++;
    const frame: Frame = { records: [...records] };
    this.inFlight = { frame, cb };
    this.hooks.onWrite(frame.records);
    const latencyMs = this.rng.range(0.05, 1) + (this.rng.bool(0.03) ? this.rng.range(1, 12) : 0);
    this.clock!.setTimeout(() => {
      const w = this.inFlight;
      if (epoch !== this.epoch || w?.frame !== frame) return;
      this.inFlight = null;
      this.frames.push(frame);
      if (this.recordCount > this.compactAt) {
        const folded = compactRecords(this.frames.flatMap((f) => f.records));
        this.frames = [{ records: [...folded] }];
        this.compactAt = Math.max(this.compactBase, 2 * folded.length);
      }
      w.cb(null);
    }, latencyMs);
  }
}
