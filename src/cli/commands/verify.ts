import { formatVerifyReport, verifyCluster } from '../../audit/index.js';
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
    'Exit code: 0 every check holds, 8 a violation, 9 nothing failed but something could not be',
    'checked (damaged or missing ledger, a running replica that does not answer).',
  ].join('\n');
  static override examples = ['<%= config.bin %> verify', '<%= config.bin %> verify --json', '<%= config.bin %> verify --dir ./c2 || echo "audit failed: $?"'];
  static override enableJsonFlag = true;
  static override flags = {
    dir: dirFlag,
    timeout: intFlag({ summary: 'How long to wait for each running replica to answer, in ms.', min: 50, max: 600_000, default: 2000 }),
  };

  async run(): Promise<unknown> {
    const report = await verifyCluster({ dir: this.flags.dir, signal: this.signal, timeoutMs: this.flags.timeout });
    this.log(formatVerifyReport(report, this.palette));
    process.exitCode = report.exitCode;
    return report;
  }
}
