/**
 * The broken-core table (README, "Broken cores"): for each deliberately broken core, the first
 * seed at which the general adversaries (fuzz, twins, cuts, clients) catch it, the checker that
 * caught it, and whether that seed passes with the honest core.
 *
 *   npx vite-node bench/broken-cores.ts [bug ...] [--bound N] [--json]
 */
import { BROKEN_CORE_CASES, formatBrokenCoreTable, searchBrokenCore, type BrokenCoreResult } from '../src/sim/broken-cores.js';

const args = process.argv.slice(2);
const boundAt = args.indexOf('--bound');
const bound = boundAt >= 0 ? Number(args[boundAt + 1]) : undefined;
const only = args.filter((a, i) => !a.startsWith('--') && !(boundAt >= 0 && i === boundAt + 1));
const rows: BrokenCoreResult[] = [];
for (const c of BROKEN_CORE_CASES) {
  if (only.length > 0 && !only.includes(c.bug)) continue;
  const r = await searchBrokenCore(c, { bound });
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
