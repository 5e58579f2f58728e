import { Flags } from '@oclif/core';
import { checkFaultyIds, formatVerifyReport, verifyCluster } from '../../audit/index.js';
import { CliError } from '../../cluster/errors.js';
import { parseReplicaIds } from '../../cluster/ids.js';
import { isPbftError } from '../../errors.js';
import { PbftCommand, dirFlag, intFlag } from '../base.js';

export default class Verify extends PbftCommand<typeof Verify> {
  static override summary = "Audit what the cluster did, from the replicas' own ledgers: agreement, certificates, checkpoints, state.";
  static override description = [
    "Reads every replica's audit ledger (replicas/<i>/ledger/) and checks, with the public keys in",
    'cluster.json: no two replicas executed different batches at one sequence number; every executed',
    'batch has a commit certificate of 2f+1 validly signed COMMITs; stable-checkpoint certificates',
    "verify and agree; each running replica's state digest matches its ledger (stopped replicas:",
    'ledger only). Names any replica whose records contradict a certificate. A damaged ledger is',
    'reported and the rest checked. Works on running and stopped clusters.',
    'With --faulty, the replicas named were made faulty on purpose (e.g. pbft fault 2 byzantine',
    'equivocate): their records are still read and their valid signatures count, but problems of',
    'theirs alone (their executions, state, equivocations, certificates) are listed as expected',
    'evidence, not violations. At most f replicas; anything involving another replica still fails.',
    'Exit code: 0 every check holds, 8 a violation, 9 nothing failed but something could not be',
    'checked (damaged or missing ledger, a running replica that does not answer).',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> verify',
    '<%= config.bin %> verify --json',
    '<%= config.bin %> verify --faulty 2   # after pbft fault 2 byzantine equivocate',
    '<%= config.bin %> verify --dir ./c2 || echo "audit failed: $?"',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    dir: dirFlag,
    timeout: intFlag({ summary: 'How long to wait for each running replica to answer, in ms.', min: 50, max: 600_000, default: 2000 }),
    faulty: Flags.string({
      summary: 'Replicas known to be faulty (made Byzantine on purpose), e.g. 1 or 1,3: their problems alone are expected evidence, not violations. At most f.',
    }),
  };

  async run(): Promise<unknown> {
    let faulty: number[] = [];
    if (this.flags.faulty !== undefined) {
      const { n, f } = (await this.cluster(this.flags.dir)).params;
      const ids = parseReplicaIds([this.flags.faulty], n, { flag: '--faulty' });
      try {
        faulty = checkFaultyIds(ids, n, f);
      } catch (e) {
        if (isPbftError(e)) throw new CliError(e.code, `--faulty: ${e.message}`, e.hint);
        throw e;
      }
    }
    const report = await verifyCluster({ dir: this.flags.dir, signal: this.signal, timeoutMs: this.flags.timeout, faulty });
    this.log(formatVerifyReport(report, this.palette));
    process.exitCode = report.exitCode;
    return report;
  }
}
