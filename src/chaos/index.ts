/** `pbft chaos`: the Jepsen loop on a real local cluster (run.ts), its nemesis, checks and pictures. */
export * from './check.js';
export * from './format.js';
export * from './history.js';
export * from './run.js';
export * from './schedule.js';
export * from './timeline.js';
