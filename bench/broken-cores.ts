/**
 * The broken-core table (README, "Broken cores"): for each deliberately broken core, the first
 * seed at which the general adversaries (fuzz, twins, cuts, clients) catch it, the checker that
 * caught it, and whether that seed passes with the honest core.
 *
 *   npx vite-node bench/broken-cores.ts [bug ...] [--bound N] [--driver core|node] [--json]
 *
 * `--driver node` searches every broken core under the node driver (the ReplicaNode with its group
 * commit and simulated disk around the same broken core) instead of the driver it was measured with.
 */
import { BROKEN_CORE_CASES, formatBrokenCoreTable, searchBrokenCore, type BrokenCoreResult } from '../src/sim/broken-cores.js';

const args = process.argv.slice(2);
const boundAt = args.indexOf('--bound');
const bound = boundAt >= 0 ? Number(args[boundAt + 1]) : undefined;
const driverAt = args.indexOf('--driver');
const driver = driverAt >= 0 ? args[driverAt + 1] : undefined;
if (driver !== undefined && driver !== 'core' && driver !== 'node') throw new Error(`--driver must be core or node, not ${driver}`);
const only = args.filter((a, i) => !a.startsWith('--') && !(boundAt >= 0 && i === boundAt + 1) && !(driverAt >= 0 && i === driverAt + 1));
const rows: BrokenCoreResult[] = [];
for (const c of BROKEN_CORE_CASES) {
  if (only.length > 0 && !only.includes(c.bug)) continue;
  const r = await searchBrokenCore(c, { bound, driver });
  rows.push(r);
  console.error(
    `${c.bug}: ${r.caught ? `caught at seed ${r.seed} (n=${r.n}, ${r.adversary}) by ${r.invariants.join(', ')}; honest core ${r.honestPasses ? 'passes' : 'FAILS'} there` : `not caught in ${r.searched} seeds`} (${(r.cpuMs / 1000).toFixed(1)} CPU-s)`,
  );
}
if (args.includes('--json'))
  console.log(
    JSON.stringify(
      rows.map(({ failure: _f, ...r }) => r),
      null,
      2,
    ),
  );
else console.log(formatBrokenCoreTable(rows));
