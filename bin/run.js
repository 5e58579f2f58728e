#!/usr/bin/env node
// The pbft command line (oclif). Commands live in dist/cli/commands (built by `npm install`).
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url });
