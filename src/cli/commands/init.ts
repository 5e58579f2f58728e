import { Flags } from '@oclif/core';
import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { type ClusterSchemeName, defaultClusterScheme, sodiumAvailable } from '../../crypto/index.js';
import { createCluster, type CreateClusterOptions } from '../../cluster/init.js';
import { cmd } from '../../cluster/hints.js';
import { clusterPaths } from '../../runtime/config.js';
import { PbftError } from '../../errors.js';
import { PbftCommand, dirFlag, intFlag } from '../base.js';

export default class Init extends PbftCommand<typeof Init> {
  static override summary = 'Create a cluster: keys, cluster.json and a directory per replica.';
  static override description = [
    'Generates Ed25519 keys for the replicas, the clients and an operator (secret key files, mode 0600),',
    'a cluster.json with members, public keys, addresses and protocol parameters, and a directory per replica.',
    'On a terminal with no flags it asks a few questions (never under CI or without a terminal).',
    'It refuses to overwrite an existing cluster unless --force is given, and directories under /proc,',
    '/sys or /dev. Without --base-port the replicas get free ports (outside the range the kernel uses',
    'for outgoing connections, and away from the clusters next to --dir), so clusters live side by side.',
    'Sizes other than n = 3f+1 (4, 7, 10...) work, but are warned about: fewer than 4 replicas tolerate',
    'no fault, and extra replicas tolerate no more faults.',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> init',
    '<%= config.bin %> init --replicas 7 --base-port 7100',
    '<%= config.bin %> init --faults 2 --dir ./big --force --yes',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    dir: dirFlag,
    replicas: intFlag({ summary: 'Number of replicas n (default 4; tolerates f = floor((n-1)/3) faults).', min: 1, max: 256, char: 'n' }),
    faults: intFlag({ summary: 'Faults to tolerate f (n = 3f+1 unless --replicas is given).', min: 0, max: 85, char: 'f' }),
    host: Flags.string({ summary: 'Host (IP address or name) every replica listens on.', default: '127.0.0.1' }),
    'base-port': intFlag({ summary: 'Replica i listens on base-port + i (default: free ports, picked at random).', min: 1, max: 65535 }),
    clients: intFlag({ summary: 'Number of configured clients (client0, client1, ...).', min: 0, max: 10000, default: 1, char: 'c' }),
    crypto: Flags.string({
      summary: 'Signature backend: sodium (libsodium, fastest), node (node:crypto) or noble (pure JavaScript).',
      description: 'Default: sodium where its addon loads on this machine, else node. Keys and signatures are the same with every backend.',
      options: ['sodium', 'node', 'noble'],
    }),
    'fault-injection': Flags.boolean({ summary: 'Let replicas accept signed fault commands (pbft fault).', allowNo: true, default: true }),
    metrics: Flags.boolean({
      summary: 'Serve Prometheus /metrics and /healthz on a loopback port per replica (replica.json metricsPort).',
      allowNo: true,
      default: true,
    }),
    'metrics-base-port': intFlag({ summary: 'Replica i serves metrics on metrics-base-port + i (default: free ports).', min: 1, max: 65535 }),
    force: Flags.boolean({ summary: 'Replace an existing cluster in --dir (deletes its keys and data).' }),
    yes: Flags.boolean({ char: 'y', summary: 'Do not ask questions; use flags and defaults.' }),
  };

  async run(): Promise<unknown> {
    const f = this.flags;
    let opts: CreateClusterOptions = {
      dir: f.dir,
      host: f.host,
      ...(f['base-port'] !== undefined ? { basePort: f['base-port'] } : {}),
      metrics: f.metrics,
      ...(f['metrics-base-port'] !== undefined ? { metricsBasePort: f['metrics-base-port'] } : {}),
      clients: f.clients,
      force: f.force,
      ...(f.crypto !== undefined ? { crypto: f.crypto as ClusterSchemeName } : {}),
      faultInjection: f['fault-injection'],
      ...(f.replicas !== undefined ? { replicas: f.replicas } : {}),
      ...(f.faults !== undefined ? { faults: f.faults } : {}),
    };
    if (this.shouldAsk()) opts = await this.wizard(opts);

    const res = await createCluster(opts);
    for (const w of res.warnings) this.note(`warning: ${w}`);
    const c = res.config;
    const rel = (p: string) => relative(process.cwd(), p) || '.';
    this.log(
      `${res.replaced ? 'Replaced the cluster with' : 'Created'} a ${c.protocol.n}-replica cluster (tolerates f = ${c.protocol.f} faulty replica${c.protocol.f === 1 ? '' : 's'}) in ${rel(res.dir)}`,
    );
    this.log('');
    this.log(`  ${rel(clusterPaths(res.dir).config).padEnd(40)} members, public keys, addresses, protocol parameters`);
    this.log(
      `  ${(`${rel(clusterPaths(res.dir).keysDir)}/`).padEnd(40)} secret keys (mode 0600): ${c.replicas.length} replicas, ${c.clients.length} client${c.clients.length === 1 ? '' : 's'}, operator`,
    );
    this.log(`  ${(`${rel(clusterPaths(res.dir).replicasDir)}/<i>/replica.json`).padEnd(40)} per-replica overrides; logs and data go next to it`);
    this.log('');
    for (const r of c.replicas)
      this.log(
        `  replica ${r.id}  ${r.host}:${r.port}  ${r.publicKey.slice(0, 16)}…${res.metricsPorts ? `  metrics http://127.0.0.1:${res.metricsPorts[r.id]}/metrics` : ''}`,
      );
    this.log('');
    this.log(`Next: ${cmd('up', f.dir)}`);
    return {
      ok: true,
      dir: res.dir,
      replaced: res.replaced,
      warnings: res.warnings,
      portsChosen: res.ports,
      n: c.protocol.n,
      f: c.protocol.f,
      replicas: c.replicas.map((r) => ({
        id: r.id,
        host: r.host,
        port: r.port,
        publicKey: r.publicKey,
        ...(res.metricsPorts ? { metricsPort: res.metricsPorts[r.id] } : {}),
      })),
      clients: c.clients.map((x) => x.id),
      files: res.files,
    };
  }

  /** A wizard only on a terminal, with no flags, not under CI and not with --yes/--json. */
  private shouldAsk(): boolean {
    if (!process.stdin.isTTY || !process.stdout.isTTY) return false;
    if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== '0' && process.env.CI !== 'false') return false;
    const given = this.argv.filter((a) => a.startsWith('-') && !/^--?(dir|d)(=|$)/.test(a) && a !== '--debug');
    return given.length === 0;
  }

  private async wizard(o: CreateClusterOptions): Promise<CreateClusterOptions> {
    const { number, input, confirm, select } = await import('@inquirer/prompts');
    try {
      const replicas = await number({
        message: 'How many replicas? (n >= 3f+1; 4 tolerates 1 fault, 7 tolerate 2)',
        default: 4,
        min: 1,
        max: 256,
        required: true,
      });
      const host = await input({
        message: 'Host the replicas listen on:',
        default: '127.0.0.1',
        validate: (v) => /^[A-Za-z0-9.:_-]{1,253}$/.test(v) || 'a host name or IP address',
      });
      const basePort = await number({
        message: 'Base port (replica i listens on base + i; leave empty for free ports):',
        min: 1,
        max: 65535 - (replicas ?? 4),
        required: false,
      });
      const clients = await number({ message: 'Configured clients:', default: 1, min: 0, max: 10000, required: true });
      const crypto = await select({
        message: 'Signatures:',
        choices: [
          ...(sodiumAvailable() ? [{ name: 'libsodium Ed25519 (fastest, native addon)', value: 'sodium' as const }] : []),
          { name: 'node:crypto Ed25519 (native)', value: 'node' as const },
          { name: '@noble/ed25519 (pure JavaScript)', value: 'noble' as const },
        ],
        default: defaultClusterScheme(),
      });
      const faultInjection = await confirm({ message: 'Allow fault injection (pbft fault)?', default: true });
      let force = false;
      if (existsSync(clusterPaths(o.dir).config)) {
        force = await confirm({ message: `${o.dir} already holds a cluster. Replace it (deletes its keys and data)?`, default: false });
        if (!force)
          throw new PbftError('CLUSTER_EXISTS', `${o.dir} already holds a cluster; nothing was changed`, {
            hint: 'choose another --dir, or answer yes to replace it',
          });
      }
      return { ...o, replicas: replicas ?? 4, host, ...(basePort !== undefined ? { basePort } : {}), clients: clients ?? 1, crypto, faultInjection, force };
    } catch (e) {
      if (e instanceof Error && e.name === 'ExitPromptError') throw new PbftError('INTERRUPTED', 'cancelled; nothing was changed');
      throw e;
    }
  }
}
