import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default (one fewer worker than cores) is a single worker on our 2-core machines,
    // where the suite then leaves a core idle about half the time (the end-to-end files mostly
    // wait on child processes). Two workers: 282 s against 426 s for the same files; .ci/run on
    // fresh clones (browser tests included) passed in 373-374 s.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
