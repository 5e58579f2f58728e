import Down from './down.js';

/** `pbft stop IDS`: the name ccm and docker compose users reach for; the same as pbft down. */
export default class Stop extends Down {
  static override summary = 'Stop replicas (the same as pbft down): SIGTERM, a grace period, then SIGKILL.';
  static override examples = ['<%= config.bin %> stop 2', '<%= config.bin %> stop 0,1', '<%= config.bin %> stop'];
  static override usage = 'stop [IDS...] [--grace MS] [--json]';
}
