/**
 * The cuts adversary: a scheduler layer in the simulator's network decisions, aimed at the
 * schedules that break view changes, instead of only random loss. With f Byzantine replicas
 * (running `fuzz`), it plans 1-3 cuts at times drawn from the seed during the safety phase:
 *
 * (a) `commit-to-one`: the COMMITs (and catch-ups) for the next sequence number reach exactly
 *     one correct replica (the "lucky" one): it commits, the others are only prepared. Then a
 *     view change starts: the current primary is isolated (and, for n >= 7, the next correct
 *     primaries too, so the new primary is Byzantine as often as possible: the cuts adversary's
 *     Byzantine replicas include the primary of view 1 most of the time); sometimes everything
 *     sent to the lucky replica is dropped as well, so the view change happens without it.
 * (b) `checkpoint-straddle`: CHECKPOINT messages to some correct replicas are dropped (or held
 *     back past the view change) while the primary is isolated: stable checkpoints straddle
 *     the view change, replicas enter it with different stable checkpoints.
 * (c) `crash-restart`: a correct replica (the lucky one of an earlier commit-to-one, or the
 *     straggler of (d), if any) crashes, possibly in the middle of a step, and restarts from its
 *     durable log, while f replicas are Byzantine. See `crashForCut` in simulator.ts for why
 *     this is within the fault model.
 * (d) `prepared-straggler`: everything one correct replica sends is delayed by one to three
 *     view-change timeouts and PREPAREs to the other correct replicas are dropped at random, so
 *     it is prepared where the others are not; then the primary is isolated.
 * (e) `restart-prepared`: a commit that only survives in durable logs. For the next sequence
 *     number s, PREPAREs reach only f+1 correct backups (the "holders") and COMMITs only one of
 *     them (the lucky one): with the f Byzantine replicas' votes the lucky one commits s, the
 *     other holders are prepared, and every other correct replica never prepares s. Then s is
 *     frozen (no more votes or catch-ups for it reach a correct replica), the holders
 *     crash-restart one after another, and the Byzantine replicas' messages are held back, so
 *     the view change that follows is most likely made of correct replicas only. A correct
 *     replica restores its prepared certificates from its log and reports s; one that does not
 *     (`restart-forget-prepared`) lets the new primary reassign s, which breaks agreement.
 *
 * Every decision comes from the cuts' own sub-stream of the seed. Nothing is cut once the
 * liveness phase starts.
 */
import type { ReplicaId } from '../core/types.js';
import type { Rng } from './rng.js';
import type { Scenario } from './scenario.js';

export type CutKind = 'commit-to-one' | 'checkpoint-straddle' | 'crash-restart' | 'prepared-straggler' | 'restart-prepared';
export const CUT_KINDS: readonly CutKind[] = ['commit-to-one', 'checkpoint-straddle', 'crash-restart', 'prepared-straggler', 'restart-prepared'];

export interface PlannedCut {
  kind: CutKind;
  atMs: number;
  /** how long the cut acts (drops, delays, isolation) */
  windowMs: number;
  /** commit-to-one: also drop everything sent to the lucky replica during the view change */
  dropToLucky: boolean;
  /** checkpoint-straddle: hold checkpoints back (delay past the window) instead of dropping them */
  delayCheckpoints: boolean;
  /** checkpoint-straddle: every correct replica misses checkpoints (else a random part of them) */
  allMissCheckpoints: boolean;
  /** crash-restart: crash in the middle of the next step; down time */
  midStep: boolean;
  downMs: number;
  /** prepared-straggler: extra delay of the straggler's messages; drop probability of other prepares */
  straggleMs: number;
  dropPrepareP: number;
}

export interface CutsPlan {
  cuts: PlannedCut[];
}

/** how often a planned cut becomes a restart-prepared one (drawn from its own sub-stream) */
const RESTART_PREPARED_P = 0.2;

export function planCuts(rng: Rng, sc: Scenario): CutsPlan {
  const vc = sc.params.viewChangeTimeoutMs;
  // restart-prepared came after the others: it is chosen from a forked stream, so a seed whose
  // cuts do not become one plans (and runs) exactly as before it existed
  const later = rng.fork('cuts/restart-prepared');
  const count = rng.int(1, 3);
  const cuts: PlannedCut[] = [];
  for (let i = 0; i < count; i++) {
    const kind = rng.weighted<CutKind>([
      ['commit-to-one', 4],
      ['checkpoint-straddle', 3],
      ['crash-restart', 3],
      ['prepared-straggler', 3],
    ]);
    cuts.push({
      kind,
      atMs: Math.round(rng.range(0.05, 0.75) * sc.safetyMs),
      windowMs: Math.round(vc * rng.range(2, 6)),
      dropToLucky: rng.bool(0.4),
      delayCheckpoints: rng.bool(0.4),
      allMissCheckpoints: rng.bool(0.5),
      midStep: rng.bool(0.5),
      downMs: Math.round(vc * rng.range(0.3, 4)),
      straggleMs: Math.round(vc * rng.range(1, 3)),
      dropPrepareP: rng.range(0.3, 0.8),
    });
    if (later.bool(RESTART_PREPARED_P)) cuts[i]!.kind = 'restart-prepared';
  }
  // a crash-restart right after a commit-to-one crashes the lucky replica: keep that order likely
  cuts.sort((a, b) => a.atMs - b.atMs);
  return { cuts };
}

export function describeCuts(p: CutsPlan): string {
  if (p.cuts.length === 0) return 'none';
  return p.cuts
    .map((c) => {
      const extra =
        c.kind === 'commit-to-one'
          ? c.dropToLucky
            ? ' drop-to-lucky'
            : ''
          : c.kind === 'checkpoint-straddle'
            ? `${c.delayCheckpoints ? ' delay' : ' drop'}${c.allMissCheckpoints ? ' all' : ' some'}`
            : c.kind === 'crash-restart'
              ? `${c.midStep ? ' mid-step' : ''} down ${c.downMs}ms`
              : c.kind === 'restart-prepared'
                ? ` down ${c.downMs}ms byzantine +${c.straggleMs}ms`
                : ` +${c.straggleMs}ms p=${c.dropPrepareP.toFixed(2)}`;
      return `${c.kind}@${c.atMs}ms/${c.windowMs}ms${extra}`;
    })
    .join(' ');
}

/** What the cuts need from the simulation. */
export interface CutHost {
  readonly n: number;
  readonly f: number;
  now(): number;
  isCorrect(r: ReplicaId): boolean;
  isUp(r: ReplicaId): boolean;
  /** the primary most correct replicas follow now */
  currentPrimary(): ReplicaId;
  /** has some correct replica committed seq? */
  committed(seq: number): boolean;
  /** crash a correct replica for a cut (false when the fault model does not allow it now) */
  crash(r: ReplicaId, midStep: boolean, downMs: number): boolean;
  /** call onTimer(tag) at atMs */
  schedule(atMs: number, tag: number): void;
  note(text: string): void;
}

/** timer tags: cut index * 8 + step */
const STEP_START = 0;
const STEP_TRIGGER = 1;
const STEP_END = 2;
const STEP_FOLLOW = 3;
const STEP_UNISOLATE = 4;
/** restart-prepared: crash the next holder (retried while another correct replica is down) */
const STEP_RESTART_NEXT = 5;
/** restart-prepared: retries of one holder's crash before the cut gives it up */
const MAX_RESTART_TRIES = 8;

interface ActiveCut {
  plan: PlannedCut;
  index: number;
  /** commit-to-one: the lucky replica and the seq whose commits only it gets */
  lucky: ReplicaId | null;
  targetSeq: number | null;
  triggered: boolean;
  /** checkpoint-straddle: replicas that miss checkpoints */
  miss: Set<ReplicaId>;
  /** prepared-straggler */
  straggler: ReplicaId | null;
  /** restart-prepared: the backups that get s's prepares (the lucky one among them) */
  holders: Set<ReplicaId>;
  /** restart-prepared: the lucky one committed s; s is frozen and the holders restart */
  frozen: boolean;
  /** restart-prepared: holders still to crash-restart, and tries of the next one */
  toRestart: ReplicaId[];
  restartTries: number;
  endMs: number;
}

type Body = { type?: unknown; seq?: unknown };

export class CutScheduler {
  readonly counters: Record<string, number> = {};
  private readonly active = new Map<number, ActiveCut>();
  /** isolated replicas: everything to and from them is dropped, until the time given */
  private readonly isolated = new Map<ReplicaId, number>();
  /** replicas whose messages are delayed (prepared-straggler), until the time given */
  private readonly slow = new Map<ReplicaId, { untilMs: number; extraMs: number }>();
  /** a replica a cut singled out (lucky or straggler): the crash-restart's favourite target */
  private lastSingled: ReplicaId | null = null;
  private healed = false;

  constructor(
    readonly plan: CutsPlan,
    private readonly host: CutHost,
    private readonly rng: Rng,
  ) {
    this.counters['cuts-planned'] = plan.cuts.length;
  }

  private bump(key: string, by = 1): void {
    this.counters[key] = (this.counters[key] ?? 0) + by;
  }

  start(): void {
    this.plan.cuts.forEach((c, i) => this.host.schedule(c.atMs, i * 8 + STEP_START));
  }

  /** the liveness phase: no more cuts */
  heal(): void {
    this.healed = true;
    this.active.clear();
    this.isolated.clear();
    this.slow.clear();
  }

  onTimer(tag: number): void {
    if (this.healed) return;
    const i = Math.floor(tag / 8);
    const step = tag % 8;
    const plan = this.plan.cuts[i];
    if (!plan) return;
    const now = this.host.now();
    if (step === STEP_START) return this.begin(i, plan, now);
    const a = this.active.get(i);
    if (step === STEP_UNISOLATE) {
      for (const [r, until] of this.isolated) if (until <= now) this.isolated.delete(r);
      return;
    }
    if (!a) return;
    if (step === STEP_TRIGGER) return this.trigger(a, now);
    if (step === STEP_RESTART_NEXT) return this.restartNext(a, now);
    if (step === STEP_FOLLOW) return this.follow(a, now);
    if (step === STEP_END) {
      this.active.delete(i);
      this.host.note(`cut #${i} (${plan.kind}) ends`);
    }
  }

  private correctUp(): ReplicaId[] {
    return [...Array(this.host.n).keys()].filter((r) => this.host.isCorrect(r) && this.host.isUp(r));
  }

  private begin(i: number, plan: PlannedCut, now: number): void {
    const a: ActiveCut = {
      plan,
      index: i,
      lucky: null,
      targetSeq: null,
      triggered: false,
      miss: new Set(),
      straggler: null,
      holders: new Set(),
      frozen: false,
      toRestart: [],
      restartTries: 0,
      endMs: now + plan.windowMs,
    };
    const primary = this.host.currentPrimary();
    const backups = this.correctUp().filter((r) => r !== primary);
    switch (plan.kind) {
      case 'commit-to-one': {
        if (backups.length === 0) return;
        a.lucky = this.rng.pick(backups);
        this.lastSingled = a.lucky;
        this.bump('commit-to-one');
        this.host.note(`cut #${i} commit-to-one: the commits of the next sequence number reach only r${a.lucky}`);
        // if nothing commits in the first part of the window, the view change starts anyway
        this.host.schedule(now + plan.windowMs / 2, i * 8 + STEP_TRIGGER);
        break;
      }
      case 'checkpoint-straddle': {
        const correct = this.correctUp();
        const miss = plan.allMissCheckpoints || correct.length < 2 ? correct : this.rng.sample(correct, this.rng.int(1, correct.length - 1));
        a.miss = new Set(miss);
        this.bump('checkpoint-straddle');
        this.host.note(
          `cut #${i} checkpoint-straddle: checkpoints to r${miss.join(',r')} ${plan.delayCheckpoints ? 'held back' : 'dropped'}; the primary is isolated in the middle of it`,
        );
        this.host.schedule(now + plan.windowMs * 0.25, i * 8 + STEP_TRIGGER);
        break;
      }
      case 'crash-restart': {
        const up = this.correctUp();
        if (up.length === 0) return;
        const target =
          this.lastSingled !== null && up.includes(this.lastSingled)
            ? this.lastSingled
            : this.rng.bool(0.4) && up.includes(primary)
              ? primary
              : this.rng.pick(up);
        if (this.host.crash(target, plan.midStep, plan.downMs)) {
          this.bump('crash-restart');
          this.host.note(
            `cut #${i} crash-restart: r${target} crashes${plan.midStep ? ' in the middle of its next step' : ''} and restarts from its durable log in ${plan.downMs}ms`,
          );
        } else {
          this.bump('crash-restart-skipped');
        }
        return;
      }
      case 'restart-prepared': {
        // f+1 holders: with the f Byzantine votes that is a quorum for the lucky one, and
        // every holder gets the 2f prepares it needs (none of them is the primary)
        if (backups.length < this.host.f + 1) return;
        const holders = this.rng.sample(backups, this.host.f + 1);
        a.holders = new Set(holders);
        a.lucky = this.rng.pick(holders);
        this.lastSingled = a.lucky;
        // the freeze, the restarts one at a time and the view change take longer than the others
        a.endMs = now + plan.windowMs + (this.host.f + 1) * plan.downMs * 1.5;
        this.bump('restart-prepared');
        this.host.note(
          `cut #${i} restart-prepared: the prepares of the next sequence number reach only r${holders.join(',r')}, its commits only r${a.lucky}; then the holders restart`,
        );
        break;
      }
      case 'prepared-straggler': {
        if (backups.length === 0) return;
        a.straggler = this.rng.pick(backups);
        this.lastSingled = a.straggler;
        this.slow.set(a.straggler, { untilMs: now + plan.windowMs, extraMs: plan.straggleMs });
        this.bump('prepared-straggler');
        this.host.note(
          `cut #${i} prepared-straggler: r${a.straggler}'s messages +${plan.straggleMs}ms, other prepares dropped with p=${plan.dropPrepareP.toFixed(2)}; then the primary is isolated`,
        );
        this.host.schedule(now + plan.windowMs * 0.3, i * 8 + STEP_TRIGGER);
        break;
      }
    }
    this.active.set(i, a);
    this.host.schedule(a.endMs, i * 8 + STEP_END);
  }

  /** start a view change: isolate the current primary (and follow the next correct ones) */
  private trigger(a: ActiveCut, now: number): void {
    if (a.triggered) return;
    a.triggered = true;
    const p = this.host.currentPrimary();
    const until = Math.max(a.endMs, now + a.plan.windowMs / 2);
    this.isolate(p, until, a);
    if (a.plan.kind === 'commit-to-one' && a.plan.dropToLucky && a.lucky !== null) {
      this.bump('lucky-cut-off');
      this.host.note(`cut #${a.index}: everything sent to r${a.lucky} dropped during the view change`);
    }
    this.host.schedule(now + Math.max(1, a.plan.windowMs / 6), a.index * 8 + STEP_FOLLOW);
  }

  private isolate(r: ReplicaId, until: number, a: ActiveCut): void {
    if ((this.isolated.get(r) ?? 0) >= until) return;
    this.isolated.set(r, until);
    this.bump('isolations');
    this.host.note(`cut #${a.index}: r${r} (primary) isolated until ${until.toFixed(0)}ms to force a view change`);
    this.host.schedule(until, a.index * 8 + STEP_UNISOLATE);
  }

  /**
   * While the cut lasts, a correct replica that became primary is isolated too (at most f
   * correct ones isolated at once), so the view change runs on to a Byzantine primary.
   */
  private follow(a: ActiveCut, now: number): void {
    if (now >= a.endMs) return;
    const p = this.host.currentPrimary();
    const isolatedCorrect = [...this.isolated.keys()].filter((r) => this.host.isCorrect(r)).length;
    if (this.host.isCorrect(p) && !this.isolated.has(p) && isolatedCorrect < this.host.f) this.isolate(p, a.endMs, a);
    this.host.schedule(now + Math.max(1, a.plan.windowMs / 6), a.index * 8 + STEP_FOLLOW);
  }

  /**
   * restart-prepared: the lucky one committed s. From now on no vote for s reaches a correct
   * replica; the holders restart one after another (the lucky one first), and the Byzantine
   * replicas' messages are held back so that the correct ones make the view change.
   */
  private freeze(a: ActiveCut): void {
    a.frozen = true;
    this.bump('restart-prepared-hit');
    const others = [...a.holders].filter((r) => r !== a.lucky);
    a.toRestart = [a.lucky!, ...others];
    const now = this.host.now();
    for (let r = 0; r < this.host.n; r++) {
      if (!this.host.isCorrect(r)) this.slow.set(r, { untilMs: a.endMs, extraMs: a.plan.straggleMs });
    }
    this.host.note(`cut #${a.index}: r${a.lucky} alone committed seq ${a.targetSeq}; s frozen, r${a.toRestart.join(',r')} restart in turn`);
    this.host.schedule(now + 1, a.index * 8 + STEP_RESTART_NEXT);
  }

  private restartNext(a: ActiveCut, now: number): void {
    const r = a.toRestart[0];
    if (r === undefined || now >= a.endMs) return;
    if (this.host.isUp(r) && this.host.crash(r, false, a.plan.downMs)) {
      a.toRestart.shift();
      a.restartTries = 0;
      this.bump('restart-prepared-restarts');
      this.host.note(`cut #${a.index}: holder r${r} crashes and restarts from its durable log in ${a.plan.downMs}ms`);
      if (a.toRestart.length > 0) this.host.schedule(now + a.plan.downMs + 1, a.index * 8 + STEP_RESTART_NEXT);
      return;
    }
    if (++a.restartTries > MAX_RESTART_TRIES) {
      this.bump('restart-prepared-given-up');
      a.toRestart = [];
      return;
    }
    this.host.schedule(now + Math.max(1, a.plan.downMs / 2), a.index * 8 + STEP_RESTART_NEXT);
  }

  /** a correct replica committed seq (for commit-to-one: did only the lucky one?) */
  onCommitted(replica: ReplicaId, seq: number): void {
    if (this.healed) return;
    for (const a of this.active.values()) {
      if (a.plan.kind === 'restart-prepared' && a.targetSeq === seq) {
        if (replica === a.lucky && !a.frozen) this.freeze(a);
        else if (replica !== a.lucky) this.bump('restart-prepared-leak');
        continue;
      }
      if (a.plan.kind !== 'commit-to-one' || a.targetSeq !== seq) continue;
      if (replica === a.lucky && !a.triggered) {
        this.bump('commit-to-one-hit');
        this.host.note(`cut #${a.index}: r${replica} alone committed seq ${seq}; now the view change`);
        this.trigger(a, this.host.now());
      } else if (replica !== a.lucky) {
        this.bump('commit-to-one-leak');
      }
    }
  }

  /**
   * The network decision for one message: -1 = drop it, else extra delay in ms (0 = none).
   */
  decide(from: ReplicaId, to: ReplicaId, msg: unknown): number {
    if (this.healed) return 0;
    if (this.isolated.size > 0) {
      const now = this.host.now();
      const uf = this.isolated.get(from);
      const ut = this.isolated.get(to);
      if ((uf !== undefined && uf > now) || (ut !== undefined && ut > now)) {
        this.bump('dropped-isolation');
        return -1;
      }
    }
    if (this.active.size === 0 && this.slow.size === 0) return 0;
    const body = (msg as { body?: Body } | null)?.body;
    const type = body?.type;
    let extra = 0;
    for (const a of this.active.values()) {
      switch (a.plan.kind) {
        case 'commit-to-one': {
          if (a.lucky === null) break;
          if (a.triggered && a.plan.dropToLucky && to === a.lucky) {
            this.bump('dropped-to-lucky');
            return -1;
          }
          if (to === a.lucky || !this.host.isCorrect(to)) break;
          if (type === 'commit' && typeof body?.seq === 'number') {
            if (a.targetSeq === null && !this.host.committed(body.seq)) {
              a.targetSeq = body.seq;
              this.host.note(`cut #${a.index}: commits for seq ${body.seq} go to r${a.lucky} only`);
            }
            if (body.seq === a.targetSeq) {
              this.bump('dropped-commits');
              return -1;
            }
          } else if (type === 'catch-up' && a.targetSeq !== null) {
            this.bump('dropped-catch-ups');
            return -1;
          }
          break;
        }
        case 'checkpoint-straddle':
          if (type === 'checkpoint' && a.miss.has(to)) {
            if (a.plan.delayCheckpoints) {
              this.bump('delayed-checkpoints');
              extra = Math.max(extra, a.endMs - this.host.now() + 1);
            } else {
              this.bump('dropped-checkpoints');
              return -1;
            }
          }
          break;
        case 'prepared-straggler':
          if (
            type === 'prepare' &&
            a.straggler !== null &&
            to !== a.straggler &&
            from !== a.straggler &&
            this.host.isCorrect(to) &&
            this.rng.bool(a.plan.dropPrepareP)
          ) {
            this.bump('dropped-prepares');
            return -1;
          }
          break;
        case 'restart-prepared': {
          if (a.lucky === null || !this.host.isCorrect(to)) break;
          const seq = typeof body?.seq === 'number' ? body.seq : null;
          if (a.targetSeq === null && (type === 'prepare' || type === 'commit') && seq !== null && !this.host.committed(seq)) {
            a.targetSeq = seq;
            this.host.note(`cut #${a.index}: prepares for seq ${seq} go to r${[...a.holders].join(',r')} only, commits to r${a.lucky} only`);
          }
          if (a.targetSeq === null) break;
          if (type === 'catch-up' && (a.frozen || to !== a.lucky)) {
            this.bump('dropped-catch-ups');
            return -1;
          }
          if (seq !== a.targetSeq) break;
          if ((type === 'prepare' && (a.frozen || !a.holders.has(to))) || (type === 'commit' && (a.frozen || to !== a.lucky))) {
            this.bump(`dropped-${type}s`);
            return -1;
          }
          break;
        }
        case 'crash-restart':
          break;
      }
    }
    const s = this.slow.get(from);
    if (s) {
      if (s.untilMs > this.host.now()) {
        this.bump('delayed-straggler');
        extra = Math.max(extra, s.extraMs);
      } else {
        this.slow.delete(from);
      }
    }
    return extra;
  }
}
