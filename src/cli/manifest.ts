/**
 * Writes oclif.manifest.json at the package root (run by `npm run build`, after tsc).
 *
 * Without a manifest oclif globs dist/cli/commands and imports every command module (and what
 * they import: prom-client, ws, the runtime) on every start, only to find the one it runs.
 * With it, a start imports the command it runs: about 40% less CPU per invocation here, which
 * the e2e suites, scripts and shell completion pay many times over. The manifest is build
 * output (git-ignored) and is rewritten by every build, so it cannot drift from dist/.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Config, type Interfaces } from '@oclif/core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const target = path.join(root, 'oclif.manifest.json');
// A manifest left by an earlier build would be read back as the source of the new one.
rmSync(target, { force: true });
const config = await Config.load({ root });
const plugin = config.plugins.get(config.pjson.name);
if (!plugin) throw new Error(`oclif did not load the ${config.pjson.name} plugin from ${root}`);
// The manifest format is the plugin's cached commands by id, plus the package version.
const manifest: Interfaces.Manifest = { version: plugin.version, commands: Object.fromEntries(plugin.commands.map((c) => [c.id, c])) };
const count = Object.keys(manifest.commands).length;
if (count === 0) throw new Error('oclif found no commands in dist/cli/commands: was tsc run first?');
writeFileSync(target, `${JSON.stringify(manifest)}\n`);
process.stdout.write(`oclif.manifest.json: ${count} commands\n`);
