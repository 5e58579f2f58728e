import { formatDropped, clusterStatus, summarizeStatus } from '../../cluster/status.js';
import { table } from '../../cluster/format.js';
import { PbftCommand, dirFlag, intFlag } from '../base.js';

export default class Status extends PbftCommand<typeof Status> {
  static override summary = 'Show every replica: running or not, view, primary, progress, state digest, peers, drops.';
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json'];
  static override enableJsonFlag = true;
  static override flags = {
    dir: dirFlag,
    timeout: intFlag({ summary: 'How long to wait for each replica to answer, in ms.', min: 50, max: 600_000, default: 2000 }),
  };

  async run(): Promise<unknown> {
    const cluster = await this.cluster(this.flags.dir);
    const rows = await clusterStatus(cluster, { timeoutMs: this.flags.timeout, signal: this.signal });
    const sum = summarizeStatus(cluster, rows);
    const p = this.palette;
    const dash = '-';
    const stateCell = (r: (typeof rows)[number]) =>
      r.reachable ? p.paint('32', 'up') : r.up ? p.paint('33', 'no answer') : p.paint('31', 'down');
    this.log(
      table(
        ['replica', 'state', 'pid', 'view', 'primary', 'last exec', 'stable ckpt', 'state digest', 'peers', 'faults', 'dropped'],
        rows.map((r) => [
          String(r.id),
          stateCell(r) + (r.viewChanging ? p.paint('33', ' (view change)') : ''),
          r.pid !== null ? String(r.pid) : dash,
          r.view !== null ? String(r.view) : dash,
          r.primary !== null ? String(r.primary) : dash,
          r.lastExecuted !== null ? String(r.lastExecuted) : dash,
          r.stableCheckpoint !== null ? String(r.stableCheckpoint) : dash,
          r.stateDigest !== null ? r.stateDigest.slice(0, 12) : dash,
          r.connectedPeers !== null ? r.connectedPeers.join(',') || 'none' : dash,
          r.reachable ? (r.faults.length ? p.paint('31', r.faults.join(', ')) : 'none') : dash,
          r.reachable ? formatDropped(r.dropped) : dash,
        ]),
        ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'l', 'l', 'l', 'l'],
      ),
    );
    for (const r of rows) if (r.error) this.log(p.paint('33', `replica ${r.id}: running (pid ${r.pid}) but ${r.error}`));
    this.log('');
    if (sum.reachable === 0) this.log(`All ${sum.n} replicas are down. Start them with: pbft up`);
    else {
      const agree = sum.converged
        ? `all ${sum.reachable} answering replicas at lastExecuted ${rows.find((r) => r.reachable)!.lastExecuted} with the same state digest`
        : `${sum.agreeing.length} replicas (${sum.agreeing.join(', ')}) agree on lastExecuted and state digest; others differ (catching up, or faulty)`;
      this.log(`${sum.up}/${sum.n} up (quorum ${sum.quorum}), view ${sum.view}: ${agree}.`);
    }
    return rows.map(({ status, ...r }) => ({ ...r, ...(status ? { primarySeen: status.primary, inboundPeers: status.inboundPeers, ready: status.ready, uptimeMs: status.uptimeMs, wal: status.wal } : {}) }));
  }
}
