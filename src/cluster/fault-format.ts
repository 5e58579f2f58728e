/**
 * What pbft fault prints: the help text of its actions and strategies, the one line for an
 * injected fault, and the table of pbft fault list.
 */
import { STRATEGY_DESCRIPTIONS, STRATEGY_NAMES } from '../byzantine/index.js';
import { table, type Palette } from './format.js';
import { FAULT_ACTIONS, FAULT_ACTION_DESCRIPTIONS, type FaultAction } from './fault-request.js';
import type { ReplicaFaults } from './fault-list.js';
import type { FaultOutcome } from './faults.js';

/** "label: text" lines (oclif's help wraps them to the terminal). */
export function labelledLines(items: [string, string][]): string {
  return items.map(([label, text]) => `${label}: ${text}`).join('\n');
}

/** Help text: the strategies. */
export function strategyHelp(): string {
  return labelledLines(STRATEGY_NAMES.map((s) => [s, STRATEGY_DESCRIPTIONS[s]]));
}

/** Help text: the actions. */
export function actionHelp(): string {
  const label = (a: FaultAction) =>
    a === 'partition'
      ? 'partition --from IDS|clients'
      : a === 'delay'
        ? 'delay --ms M [--jitter J] [--link L]'
        : a === 'drop'
          ? 'drop --rate R [--link L]'
          : a === 'heal'
            ? 'heal [--from IDS|clients]'
            : a === 'byzantine'
              ? 'byzantine STRATEGY'
              : a;
  return labelledLines(FAULT_ACTIONS.map((a) => [label(a), FAULT_ACTION_DESCRIPTIONS[a]]));
}

/** One line for a person. */
export function formatFaultOutcome(r: FaultOutcome): string {
  const via = r.primary ? ` (the primary of view ${r.primary.view}, as replicas ${r.primary.agreeing.join(',')} report)` : '';
  const active = r.faults?.active.length ? `; faults in force: ${r.faults.active.join(', ')}` : '';
  return `${r.message}${via}${active}`;
}

/** The table of pbft fault list, a line for each replica that runs but did not answer, and a summary. */
export function formatFaultList(rows: ReplicaFaults[], p: Palette): string {
  const stateCell = (r: ReplicaFaults) =>
    r.state === 'running'
      ? r.reachable
        ? p.paint('32', 'running')
        : p.paint('33', 'no answer')
      : r.state === 'paused' || r.state === 'crashed'
        ? p.paint('31', r.state)
        : p.paint('2', r.state);
  const counters = (c: Record<string, number>) =>
    Object.entries(c)
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([k, v]) => `${k}:${v}`)
      .join(' ');
  const out = [
    table(
      ['replica', 'process', 'pid', 'view', 'faults in force', 'strategy did', 'injection'],
      rows.map((r) => {
        const net = r.active.filter((a) => a !== 'paused' && a !== 'crashed');
        return [
          String(r.id) + (r.reachable && r.primary === r.id ? ' (primary)' : ''),
          stateCell(r),
          r.pid !== null ? String(r.pid) : '-',
          r.view !== null ? String(r.view) : '-',
          net.length ? p.paint('31', net.join(', ')) : r.reachable ? 'none' : '-',
          r.byzantine ? counters(r.byzantineCounters) || '(nothing yet)' : '-',
          r.faultInjection === null ? '-' : r.faultInjection ? 'on' : 'off',
        ];
      }),
      ['l', 'l', 'r', 'r', 'l', 'l', 'l'],
    ),
  ];
  for (const r of rows) if (r.error) out.push(p.paint('33', `replica ${r.id}: running (pid ${r.pid}) but ${r.error}`));
  const faulty = rows.filter((r) => r.active.length > 0).length;
  out.push('');
  out.push(
    faulty === 0
      ? 'No faults in force.'
      : `${faulty} of ${rows.length} replicas have faults in force; lift them with: pbft fault <id> clear (and restart crashed ones: pbft fault <id> restart)`,
  );
  return out.join('\n');
}
