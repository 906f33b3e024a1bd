import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ExperimentResult, TrainingProtocol } from '../../stages/contracts';
import { budgetNote } from '../../stages/report/html';
import { ownReproduction } from '../../stages/report/paper-results';

const protocol = (epochs: number): TrainingProtocol => ({ selection: 'last', valid: { bias: 'unbiased', images: 100, conflicting: 90 }, init: 'torch', epochs });
const result = (dataset: string, epochs: number): ExperimentResult => ({
  experimentId: `${dataset}/1/0/x`, dataset, ratio: 1, seed: 0, configHash: 'x', reportKey: 'k', generated: 4500,
  accuracy: { vanilla: { unbiased: 51, aligned: 99, conflicting: 45 }, debiased: { unbiased: 71, aligned: 99, conflicting: 68 } },
  training: { debiased: { protocol: protocol(epochs), bestEpoch: epochs, validAccuracy: 70, validCurve: [] } },
});

describe('the budget a gain was measured at (demo, report)', () => {
  it("below the paper's epochs: says vanilla is undertrained and quotes the paper-budget gains at every ratio", () => {
    const note = budgetNote(result('cmnist', 5));
    expect(note).toMatch(/^Measured at 5 epochs with 4,500 generated images\. Below the paper's 50 epochs vanilla is undertrained/);
    expect(note).toContain('DiffuBias - vanilla was +13.16 ± 1.07 at 0.5%, +7.37 ± 1.49 at 1%, +0.94 ± 0.63 at 2%, -3.05 ± 0.06 at 5%');
    expect(note).toContain('n = 3 seeds per ratio');
  });

  it("at the paper's epochs, or for a dataset not reproduced, quotes nothing", () => {
    expect(budgetNote(result('cmnist', 50))).toBe('Measured at 50 epochs with 4,500 generated images.');
    const other = budgetNote(result('bffhq', 5));
    expect(other).toContain('undertrained');
    expect(other).not.toContain('DiffuBias - vanilla was');
    expect(ownReproduction('measured')).toBeNull();
  });

  it('quotes the numbers docs/results.md reports for the chosen recipe', () => {
    const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'results.md'), 'utf8').split('\n');
    const own = ownReproduction('cmnist')!;
    expect(own.rows.map((c) => c.ratio)).toEqual([0.5, 1, 2, 5]);
    for (const c of own.rows) {
      const line = doc.find((l) => l.startsWith(`| chosen recipe | ${c.ratio}% | ${c.n} |`));
      expect(line, `docs/results.md row for ${c.ratio}%`).toBeDefined();
      const signed = `${c.gain[0] >= 0 ? '+' : ''}${c.gain[0].toFixed(2)}`;
      expect(line).toContain(`${signed} ± ${c.gain[1].toFixed(2)}`);
      expect(line).toContain(`${c.vanilla[0].toFixed(2)} ± ${c.vanilla[1].toFixed(2)}`);
      expect(line).toContain(`${c.diffubias[0].toFixed(2)} ± ${c.diffubias[1].toFixed(2)}`);
    }
  });
});
