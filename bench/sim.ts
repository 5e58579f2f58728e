/**
 * Simulator figures: seeds per second and simulated committed requests per CPU-second, for
 * n = 4 and n = 7 over every Byzantine strategy (and none).
 *
 *   npx vite-node bench/sim.ts [seeds per replica count, default 100] [--crypto ed25519]
 *   (or, after `npm run build`: pbft sim --bench --seeds 100 --replicas 4,7)
 */
import { benchSim, formatBench } from '../src/sim/bench.js';

const args = process.argv.slice(2);
const seeds = Number(args.find((a) => /^\d+$/.test(a)) ?? 100);
const crypto = args.includes('--crypto') && args[args.indexOf('--crypto') + 1] === 'ed25519' ? 'node' : 'sim';
const r = benchSim({
  seeds,
  replicas: [4, 7],
  byzantine: ['none', 'silent', 'equivocate', 'conflicting-votes', 'forged-view-change', 'replay', 'wrong-reply', 'corrupt-state', 'garbage'],
  crypto,
  onProgress: (d, t) => process.stderr.isTTY && process.stderr.write(`\r${d}/${t} seeds`),
});
if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
console.log(formatBench(r));
console.log(JSON.stringify(r));
