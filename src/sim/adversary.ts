/**
 * Simulator adversaries: who attacks a run, beyond the network model every run has.
 *
 * - `catalogue`: Byzantine replicas running the catalogue strategies named by --byzantine
 *   (the simulator's original behaviour);
 * - `fuzz`: Byzantine replicas running the catalogue's `fuzz` strategy;
 * - `twins`: up to f Byzantine replicas each run as two honest cores sharing one key and one
 *   id, placed on different sides of a partition schedule (src/sim/twins.ts);
 * - `clients`: 1-3 Byzantine clients next to the honest ones (src/sim/byzclients.ts), with the
 *   --byzantine Byzantine replicas as well;
 * - `cuts`: f Byzantine replicas running `fuzz`, and a scheduler that aims the network (and
 *   one crash) at the cuts that break protocols (src/sim/cuts.ts).
 *
 * One adversary per run; `pbft sim --adversary` spreads a list of them across seeds. Every
 * decision an adversary makes comes from its own named sub-stream of the seed, so a run with
 * the default `catalogue` adversary is exactly the run it was before adversaries existed.
 */
import { STRATEGY_NAMES, type StrategyName } from '../byzantine/index.js';
import type { ReplicaId } from '../core/types.js';
import { planByzClients, describeByzClients, type ByzClientsPlan } from './byzclients.js';
import { planCuts, describeCuts, type CutsPlan } from './cuts.js';
import { Rng } from './rng.js';
import type { PlannedByzantine, Scenario } from './scenario.js';
import { planTwins, describeTwins, type TwinsPlan } from './twins.js';

export type AdversaryName = 'catalogue' | 'fuzz' | 'twins' | 'clients' | 'cuts';

export const ADVERSARY_NAMES: readonly AdversaryName[] = ['catalogue', 'fuzz', 'twins', 'clients', 'cuts'];

export const ADVERSARY_DESCRIPTIONS: Record<AdversaryName, string> = {
  catalogue: 'Byzantine replicas running the --byzantine strategy sets (the catalogue)',
  fuzz: 'Byzantine replicas running the catalogue strategy "fuzz"',
  twins: 'up to f Byzantine replicas each run as two honest cores with one key and id, on different sides of a changing partition',
  clients:
    'Byzantine clients next to the honest ones: equal timestamps, timestamps near 2^53, read-only writes, replays, floods of fresh ids, oversized and malformed requests',
  cuts: 'f Byzantine replicas running "fuzz", and a network scheduler aimed at view changes: commits reaching one replica, checkpoints straddling a view change, a crash-restart, a prepared straggler, a commit whose holders all restart before the view change',
};

export function isAdversaryName(s: unknown): s is AdversaryName {
  return typeof s === 'string' && (ADVERSARY_NAMES as readonly string[]).includes(s);
}

/**
 * The catalogue's `fuzz` strategy, which is being added to src/byzantine. Until STRATEGY_NAMES
 * has it, the adversaries that want it (fuzz, cuts) fall back to `garbage`, the closest
 * strategy the catalogue has (malformed messages alongside normal behaviour).
 */
export const FUZZ_STRATEGY_WANTED = 'fuzz';
export const FUZZ_AVAILABLE: boolean = (STRATEGY_NAMES as readonly string[]).includes(FUZZ_STRATEGY_WANTED);
const fuzzName: string = FUZZ_AVAILABLE ? FUZZ_STRATEGY_WANTED : 'garbage';
export const FUZZ_STRATEGY = fuzzName as StrategyName;

/** Does this adversary use the --byzantine strategy sets? (Others ignore them.) */
export function usesStrategySets(a: AdversaryName): boolean {
  return a === 'catalogue' || a === 'clients';
}

/** The strategies the run's Byzantine replicas use, for this adversary. */
export function strategiesFor(a: AdversaryName, requested: readonly StrategyName[]): readonly StrategyName[] {
  switch (a) {
    case 'catalogue':
    case 'clients':
      return requested;
    case 'fuzz':
    case 'cuts':
      return [FUZZ_STRATEGY];
    case 'twins':
      return [];
  }
}

export type AdversaryPlan =
  | { name: 'catalogue' }
  | { name: 'fuzz' }
  | { name: 'twins'; twins: TwinsPlan }
  | { name: 'clients'; clients: ByzClientsPlan }
  | { name: 'cuts'; cuts: CutsPlan };

/** What an adversary did in one run, by kind (SimStats.adversary). */
export interface AdversaryStats {
  name: AdversaryName;
  counters: Record<string, number>;
}

/**
 * The adversary's plan for a run, drawn from its own sub-stream of the seed, and the scenario
 * it runs in (the cuts adversary re-chooses the Byzantine replicas: f of them, the next
 * primary among them more often). A fault-free scenario gets an adversary that does nothing.
 */
export function planAdversary(sc: Scenario, name: AdversaryName, faults: boolean): { sc: Scenario; plan: AdversaryPlan } {
  const rng = new Rng(sc.seed).fork(`adversary/${name}`);
  switch (name) {
    case 'catalogue':
    case 'fuzz':
      return { sc, plan: { name } };
    case 'twins':
      return { sc, plan: { name, twins: planTwins(rng, sc, faults) } };
    case 'clients':
      return { sc, plan: { name, clients: planByzClients(rng, sc, faults) } };
    case 'cuts': {
      if (!faults) return { sc, plan: { name, cuts: { cuts: [] } } };
      return { sc: { ...sc, byzantine: cutsByzantine(rng.fork('replicas'), sc.n, sc.f) }, plan: { name, cuts: planCuts(rng, sc) } };
    }
  }
}

/**
 * f Byzantine replicas from the start: the primary of view 1 among them most of the time (the
 * first view change then has a Byzantine new primary), the primary of view 0 often.
 */
function cutsByzantine(rng: Rng, n: number, f: number): PlannedByzantine[] {
  const ids = new Set<ReplicaId>();
  if (rng.bool(0.7)) ids.add(1);
  if (ids.size < f && rng.bool(0.35)) ids.add(0);
  while (ids.size < f) ids.add(rng.int(0, n - 1));
  return [...ids].sort((a, b) => a - b).map((replica) => ({ replica, strategy: FUZZ_STRATEGY, fromMs: 0 }));
}

/** One line for the scenario description ('' for the plain adversaries). */
export function describeAdversary(p: AdversaryPlan): string {
  switch (p.name) {
    case 'catalogue':
      return '';
    case 'fuzz':
      return `adversary fuzz${FUZZ_AVAILABLE ? '' : ` (strategy "${FUZZ_STRATEGY_WANTED}" not in the catalogue yet: ${FUZZ_STRATEGY})`}`;
    case 'twins':
      return `adversary twins: ${describeTwins(p.twins)}`;
    case 'clients':
      return `adversary clients: ${describeByzClients(p.clients)}`;
    case 'cuts':
      return `adversary cuts${FUZZ_AVAILABLE ? '' : ` (with ${FUZZ_STRATEGY}: "${FUZZ_STRATEGY_WANTED}" not in the catalogue yet)`}: ${describeCuts(p.cuts)}`;
  }
}

/** Add `by` to counter `key`. */
export function bump(counters: Record<string, number>, key: string, by = 1): void {
  counters[key] = (counters[key] ?? 0) + by;
}
