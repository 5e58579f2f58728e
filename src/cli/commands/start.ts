import Up from './up.js';

/** `pbft start IDS`: the name ccm and docker compose users reach for; the same as pbft up. */
export default class Start extends Up {
  static override summary = 'Start replicas (the same as pbft up): in the background, and wait until they are ready.';
  static override examples = ['<%= config.bin %> start 2', '<%= config.bin %> start 1-3', '<%= config.bin %> start'];
  static override usage = 'start [IDS...] [--timeout MS] [--json]';
}
