import { describe, it } from 'vitest';
import { BUDGET, budgetRun } from './budget.js';

describe('simulator budget', () => {
  it(`n=4: ${BUDGET.n4} seeds, every strategy, no violation`, { timeout: 600_000 }, () => budgetRun(4, BUDGET.n4));
});
