import { Flags } from '@oclif/core';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedCluster } from '../../runtime/config.js';
import { startWebServer } from '../../web/server.js';
import { openInBrowser, readSimTrace } from '../../web/open.js';
import type { SimTraceFile } from '../../web/model.js';
import { PbftCommand, dirFlag, intFlag } from '../base.js';

export default class Web extends PbftCommand<typeof Web> {
  static override summary = 'Watch a cluster live in the browser, and replay simulator runs, on a page served on 127.0.0.1.';
  static override description = [
    'Serves a page on 127.0.0.1 and prints its URL: a card per replica (up, paused or crashed; view and primary; lastExecuted,',
    'stable checkpoint and state digest; faults in force; drops), a space-time diagram of recent requests from the phase logs',
    '(click a request for its timeline), fault buttons and a request box that act through the same library as pbft fault and',
    'pbft request, and throughput and latency charts of whatever traffic the cluster serves (pbft bench, pbft chaos...).',
    '',
    '--trace FILE opens a simulator trace (pbft sim --seed N --trace-file FILE) to step through in the same diagram; a trace',
    'can also be dropped on the page. Without a cluster in --dir, --trace serves the trace alone.',
    '',
    'The server listens on 127.0.0.1 only, refuses other origins, and needs the per-session token it writes into the page',
    'for every action. It holds the operator key; the browser never sees it. Ctrl-C stops it.',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> web',
    '<%= config.bin %> web --open --port 8080',
    '<%= config.bin %> sim --seed 7 --trace-file seed7.json && <%= config.bin %> web --trace seed7.json',
  ];
  static override flags = {
    dir: dirFlag,
    port: intFlag({ summary: 'Port on 127.0.0.1 (0: any free port).', min: 0, max: 65_535, default: 4840 }),
    open: Flags.boolean({ summary: 'Open the page in the default browser.' }),
    trace: Flags.string({ summary: 'A simulator trace to open (written by pbft sim --seed N --trace-file FILE).' }),
  };

  async run(): Promise<void> {
    const f = this.flags;
    const trace: SimTraceFile | undefined = f.trace !== undefined ? await readSimTrace(f.trace) : undefined;
    let cluster: LoadedCluster | undefined;
    // with --trace and no cluster where --dir points: the trace alone
    if (trace === undefined || existsSync(join(f.dir, 'cluster.json'))) cluster = await this.cluster(f.dir);
    const server = await startWebServer({ ...(cluster ? { cluster } : {}), ...(trace ? { trace } : {}), port: f.port });
    this.log(`pbft web: ${server.url}`);
    this.log(
      cluster
        ? `  the cluster in ${cluster.dir} (${cluster.config.replicas.length} replicas)${trace ? `, and the simulator trace of seed ${trace.seed}` : ''}; Ctrl-C stops the server`
        : `  the simulator trace of seed ${trace!.seed}; Ctrl-C stops the server`,
    );
    if (f.open) {
      const why = await openInBrowser(server.url);
      if (why) this.note(why);
    }
    await new Promise<void>((resolve) => {
      if (this.signal.aborted) resolve();
      else this.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await server.close();
  }
}
