/**
 * The fault acts of `pbft demo` (issue 4): the primary crashes and a view change replaces it
 * while requests keep completing, the old primary is restarted and catches up; then a backup's
 * state is corrupted and the honest core finds it at the next checkpoint and repairs it by
 * state transfer. Each step prints the `pbft fault` command a user would type and the merged
 * phase-log lines that show the cluster's reaction.
 */
import { PbftError } from '../errors.js';
import type { DemoAct, DemoContext } from './demo.js';
import { injectFault } from './faults.js';
import { resolvePrimary } from './fault-primary.js';
import { formatFaultOutcome } from './fault-format.js';
import { formatMs, formatRecord } from './format.js';
import { discoverPhaseFiles, readMerged, type PhaseRecord } from '../phaselog/index.js';
import { waitConverged } from './status.js';

async function logSince(ctx: DemoContext, sinceMs: number, keep: (r: PhaseRecord) => boolean): Promise<PhaseRecord[]> {
  const files = await discoverPhaseFiles(
    ctx.cluster.dir,
    ctx.cluster.config.replicas.map((r) => r.id),
  );
  return (await readMerged(files, { sinceMs })).filter(keep);
}

function showLog(ctx: DemoContext, recs: PhaseRecord[], sinceMs: number, max = 14): void {
  const shown = recs.length > max ? [...recs.slice(0, max - 1), recs[recs.length - 1]!] : recs;
  for (const [i, r] of shown.entries()) {
    if (recs.length > max && i === max - 1) ctx.out(ctx.palette.paint('2', `    ... ${recs.length - max} more lines (pbft logs) ...`));
    ctx.out(`    ${formatRecord(r, ctx.palette, { relativeToMs: sinceMs })}`);
  }
}

function command(ctx: DemoContext, cmd: string): void {
  ctx.out(ctx.palette.paint('1', `  $ pbft fault ${cmd}`));
}

async function poll<T>(ctx: DemoContext, probe: () => Promise<T | null>, timeoutMs: number): Promise<T | null> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null || performance.now() >= until || ctx.signal.aborted) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const crashPrimaryAct: DemoAct = {
  id: 'crash-primary',
  title: 'The primary crashes: a view change elects a new one, and requests keep completing',
  async run(ctx) {
    const p = await resolvePrimary(ctx.cluster, { signal: ctx.signal });
    const n = ctx.cluster.config.replicas.length;
    ctx.out(`  replica ${p.primary} is the primary of view ${p.view} (replicas ${p.agreeing.join(', ')} agree); kill it with SIGKILL:`);
    const t0 = Date.now();
    command(ctx, 'primary crash');
    const crash = await injectFault(ctx.cluster, { target: 'primary', action: 'crash' }, { signal: ctx.signal });
    ctx.out(`  ${formatFaultOutcome(crash)}`);
    ctx.out(`  a request now: the backups time out waiting for it to be ordered, and move to view ${p.view + 1}`);
    const r = await ctx.request({ op: 'put', key: 'after-crash', value: 'still works' });
    const failoverMs = r.doneAtMs - t0;
    const viewLines = (x: PhaseRecord) =>
      x.phase === 'fault' || x.phase === 'new-view' || x.phase === 'enter-view' || (x.phase === 'view-change' && x.peer === undefined);
    // the phase logs are written in batches (at most every 50 ms): wait, briefly, for the new
    // view's enter-view lines to reach them rather than show the view change half done
    const recs =
      (await poll(
        ctx,
        async () => {
          const got = await logSince(ctx, t0, viewLines);
          return got.some((x) => x.phase === 'enter-view' && x.view === r.view) ? got : null;
        },
        2_000,
      )) ?? (await logSince(ctx, t0, viewLines));
    ctx.out('');
    showLog(ctx, recs, t0);
    ctx.out('');
    const newPrimary = r.view % n;
    ctx.out(`  replica ${newPrimary} is the primary of view ${r.view}; the first request after the crash completed ${formatMs(failoverMs)} after it`);
    for (const op of [
      { op: 'put', key: 'alice', value: '60' },
      { op: 'get', key: 'alice' },
    ] as const)
      await ctx.request(op);

    ctx.out('');
    ctx.out(`  restart the old primary: it reloads its durable log, learns the new view and catches up`);
    command(ctx, `${crash.replica} restart`);
    const re = await injectFault(ctx.cluster, { target: crash.replica, action: 'restart' }, { signal: ctx.signal, ...(ctx.entry ? { entry: ctx.entry } : {}) });
    ctx.out(`  ${formatFaultOutcome(re)}`);
    await ctx.request({ op: 'put', key: 'carol', value: '30' });
    const { converged, rows } = await waitConverged(ctx.cluster, { timeoutMs: 15_000, minExecuted: 1, signal: ctx.signal });
    const me = rows.find((x) => x.id === crash.replica);
    if (!converged || !me)
      throw new PbftError('DEMO_DIVERGED', `the restarted replica ${crash.replica} did not catch up within 15 s`, {
        hint: 'run again with --keep and inspect pbft logs --dir <the kept directory>',
      });
    ctx.out(
      `  replica ${crash.replica} caught up: view ${me.view}, lastExecuted ${me.lastExecuted}, state digest ${me.stateDigest?.slice(0, 12)} like every other replica`,
    );
    ctx.results.crashPrimary = { crashed: crash.replica, fromView: p.view, toView: r.view, newPrimary, failoverMs, caughtUp: true };
  },
};

export const corruptStateAct: DemoAct = {
  id: 'corrupt-state',
  title: "A backup's state is corrupted: found at the next checkpoint, repaired by state transfer",
  async run(ctx) {
    const p = await resolvePrimary(ctx.cluster, { signal: ctx.signal });
    const n = ctx.cluster.config.replicas.length;
    const victim = (p.primary + 1) % n;
    const interval = ctx.cluster.params.checkpointInterval;
    const t0 = Date.now();
    ctx.out(`  make replica ${victim} Byzantine: its key-value store silently changes under it`);
    command(ctx, `${victim} byzantine corrupt-state`);
    ctx.out(
      `  ${formatFaultOutcome(await injectFault(ctx.cluster, { target: victim, action: 'byzantine', strategy: 'corrupt-state' }, { signal: ctx.signal }))}`,
    );
    ctx.out(`  then honest again, but with the corrupt state: nothing tells it so, until the next checkpoint`);
    command(ctx, `${victim} clear`);
    ctx.out(`  ${formatFaultOutcome(await injectFault(ctx.cluster, { target: victim, action: 'clear' }, { signal: ctx.signal }))}`);
    ctx.out(`  requests go on; every ${interval} requests the replicas exchange signed checkpoints of their state digest`);
    // keys nothing wrote before (the corruption overwrites an existing key or one of k0..k2): a
    // put over the corrupted key would repair it by itself, and no checkpoint would differ
    for (let i = 0; i < interval + 1; i++) await ctx.request({ op: 'put', key: `d${i}`, value: `v${i}` });
    const repaired = await poll(
      ctx,
      async () => {
        const recs = await logSince(ctx, t0, (x) => x.replica === victim && x.phase === 'state-transfer');
        return recs.some((x) => String(x.detail ?? '').includes('installed state')) ? recs : null;
      },
      // generous: a loaded machine (a CI run beside other work) can take several checkpoint rounds
      30_000,
    );
    if (!repaired)
      throw new PbftError('DEMO_NOT_REPAIRED', `replica ${victim} did not repair its state within 30 s`, {
        hint: 'run again with --keep and inspect pbft logs --dir <the kept directory>',
      });
    const recs = await logSince(ctx, t0, (x) => x.phase === 'fault' || (x.replica === victim && (x.phase === 'state-transfer' || x.phase === 'stable')));
    ctx.out('');
    showLog(ctx, recs, t0);
    ctx.out('');
    const { converged, rows } = await waitConverged(ctx.cluster, { timeoutMs: 10_000, minExecuted: 1, signal: ctx.signal });
    if (!converged) throw new PbftError('DEMO_DIVERGED', `replica ${victim} repaired its state but the replicas did not converge within 10 s`);
    const me = rows.find((x) => x.id === victim)!;
    ctx.out(
      `  replica ${victim} fetched the state of the stable checkpoint from its peers: state digest ${me.stateDigest?.slice(0, 12)}, the same as everyone's`,
    );
    await ctx.request({ op: 'get', key: 'd0' });
    ctx.results.corruptState = { replica: victim, repaired: true, stateDigest: me.stateDigest };
  },
};

export const FAULT_ACTS: DemoAct[] = [crashPrimaryAct, corruptStateAct];
