import { describe, it } from 'vitest';
import { NODE_BUDGET, nodeBudget } from './node-budget.js';

describe('node driver budget', () => {
  it(`n=4: ${NODE_BUDGET.n4} seeds, every adversary, no violation`, { timeout: 600_000 }, () => nodeBudget(4, NODE_BUDGET.n4));
});
