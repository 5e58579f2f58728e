import { describe, it } from 'vitest';
import { BUDGET, budgetRun } from './budget.js';

describe('simulator budget', () => {
  it(`n=7: ${BUDGET.n7} seeds, every strategy, no violation`, { timeout: 600_000 }, () => budgetRun(7, BUDGET.n7));
});
