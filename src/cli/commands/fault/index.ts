import { Args, Flags } from '@oclif/core';
import { STRATEGY_NAMES } from '../../../byzantine/index.js';
import { injectFault } from '../../../cluster/faults.js';
import { actionHelp, formatFaultOutcome, strategyHelp } from '../../../cluster/fault-format.js';
import { FAULT_ACTIONS, parseFaultArgs } from '../../../cluster/fault-request.js';
import { MAX_REPLICAS } from '../../../runtime/config.js';
import { isPbftError } from '../../../errors.js';
import { PbftCommand, dirFlag, intFlag } from '../../base.js';

export default class Fault extends PbftCommand<typeof Fault> {
  static override summary = 'Break a replica of a running cluster (crash, pause, network faults, Byzantine strategies) or heal it.';
  static override description = [
    'TARGET is a replica id or "primary" (the primary that a quorum of running replicas report). Signals (crash, pause, resume) are sent by pbft itself; every other fault is a command signed with keys/operator.key that the replica checks before obeying. A cluster or replica with fault injection disabled refuses them all. See the faults in force with: pbft fault list.',
    '',
    'ACTIONS',
    actionHelp(),
    '',
    'STRATEGIES (byzantine STRATEGY; the same catalogue as pbft sim)',
    strategyHelp(),
  ].join('\n');
  static override examples = [
    '<%= config.bin %> fault primary crash',
    '<%= config.bin %> fault 0 restart',
    '<%= config.bin %> fault 2 pause',
    '<%= config.bin %> fault 3 partition --from 0,1',
    '<%= config.bin %> fault 1 delay --ms 50 --jitter 10',
    '<%= config.bin %> fault 1 drop --rate 0.2',
    '<%= config.bin %> fault 2 partition --from clients',
    '<%= config.bin %> fault 2 delay --ms 200 --link clients',
    '<%= config.bin %> fault primary byzantine equivocate',
    '<%= config.bin %> fault 2 byzantine corrupt-state',
    '<%= config.bin %> fault 2 clear',
    '<%= config.bin %> fault list',
  ];
  static override usage = [
    'fault TARGET ACTION [STRATEGY] [--from IDS|clients] [--ms M] [--jitter J] [--rate R] [--link replicas|clients] [--json]',
    'fault list [--json]',
  ];
  static override strict = false;
  static override args = {
    target: Args.string({ description: 'A replica id, or primary.', required: false }),
    action: Args.string({ description: `One of: ${FAULT_ACTIONS.join(', ')}.`, required: false }),
    strategy: Args.string({ description: `For byzantine: ${STRATEGY_NAMES.join(', ')}.`, required: false }),
  };
  static override enableJsonFlag = true;
  static override flags = {
    dir: dirFlag,
    from: Flags.string({
      summary: 'partition / heal: the replicas to cut the target off from (or reconnect), e.g. 0,1 or 0-2; the word clients for every client.',
    }),
    link: Flags.string({
      summary: 'delay / drop: only the links to other replicas, or only those to clients (default: both).',
      options: ['replicas', 'clients'],
    }),
    ms: Flags.string({ summary: 'delay: milliseconds added to every message (0-60000).' }),
    jitter: Flags.string({ summary: 'delay: plus or minus this many milliseconds at random (0-60000).' }),
    rate: Flags.string({ summary: 'drop: the fraction of messages dropped at random (0-1).' }),
    timeout: intFlag({
      summary: 'How long to wait for the replica to answer (restart: to become ready), in ms.',
      min: 100,
      max: 600_000,
      default: 30_000,
      char: 't',
    }),
  };

  async run(): Promise<unknown> {
    const args = {
      target: this.args.target,
      action: this.args.action,
      rest: [this.args.strategy, ...this.rest].filter((x): x is string => x !== undefined),
      ...(this.flags.from !== undefined ? { from: this.flags.from } : {}),
      ...(this.flags.ms !== undefined ? { ms: this.flags.ms } : {}),
      ...(this.flags.jitter !== undefined ? { jitter: this.flags.jitter } : {}),
      ...(this.flags.rate !== undefined ? { rate: this.flags.rate } : {}),
      ...(this.flags.link !== undefined ? { link: this.flags.link } : {}),
    };
    // usage errors first, before looking for a cluster; whether an id is one of its replicas
    // is for the cluster to say (not "this cluster has replicas 0-255")
    try {
      parseFaultArgs(args, MAX_REPLICAS);
    } catch (e) {
      if (!isPbftError(e, 'UNKNOWN_REPLICA')) throw e;
    }
    const cluster = await this.cluster(this.flags.dir);
    const req = parseFaultArgs(args, cluster.config.replicas.length);
    const out = await injectFault(cluster, req, {
      timeoutMs: Math.min(this.flags.timeout, 5000),
      readyTimeoutMs: this.flags.timeout,
      signal: this.signal,
      warn: (m) => this.note(`warning: ${m}`),
    });
    this.log(formatFaultOutcome(out));
    return { ok: true, ...out };
  }
}
