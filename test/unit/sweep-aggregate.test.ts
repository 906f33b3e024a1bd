import { describe, expect, it } from 'vitest';
import type { ExperimentResult } from '../../stages/contracts';
import { aggregateSweep } from '../../stages/report/sweep-aggregate';
import { meanStd } from '../../stages/report/stats';
import { NO_ENERGY } from '../../core/energy';
import { formatStat, sweepHtml, sweepMarkdown } from '../../stages/report/sweep-table';

const result = (dataset: 'cmnist' | 'bffhq', ratio: number, seed: number, debiased: number): ExperimentResult => ({
  experimentId: `${dataset}/${ratio}/${seed}/x`, dataset, ratio, seed, configHash: 'x',
  accuracy: { debiased: { unbiased: debiased, aligned: 90, conflicting: debiased - 10 } },
  topK: { k: 1, mode: 'global', selected: 1, precision: 1, recall: 1 },
  captions: { images: 1, kept: 1, dropped: 0, topWords: [] }, generated: 1, reportKey: 'k',
});

const energyAt = (kwh: number) => ({ ...NO_ENERGY, kwh: { ...NO_ENERGY.kwh, total: kwh } });

describe('sweep aggregation', () => {
  it('mean and sample std', () => {
    expect(meanStd([1, 2, 3])).toEqual({ mean: 2, std: 1, n: 3 });
    // One run has no spread: std is null (shown n/a), not 0.
    expect(meanStd([5])).toEqual({ mean: 5, std: null, n: 1 });
    // A subset a test split does not have (NaN, or null once through JSON) is left out, never averaged as 0.
    expect(meanStd([80, Number.NaN, null, 90])).toEqual({ mean: 85, std: Math.sqrt(50), n: 2 });
    expect(meanStd([null])).toEqual({ mean: null, std: null, n: 0 });
  });

  it('groups by dataset and ratio, with the paper beside ours', () => {
    const rows = aggregateSweep([result('bffhq', 1, 0, 70), result('bffhq', 1, 1, 80), result('cmnist', 0.5, 0, 50)]);
    expect(rows.map((r) => [r.dataset, r.ratio, r.seeds])).toEqual([['bffhq', 1, [0, 1]], ['cmnist', 0.5, [0]]]);
    expect(rows[0]!.ours.debiased!.unbiased.mean).toBe(75);
    expect(rows[0]!.ours.debiased!.unbiased.std).toBeCloseTo(Math.SQRT2 * 5);
    expect(rows[0]!.paper).toMatchObject({ DiffuBias: 79.48, Vanilla: 60.96 });
    expect(rows[1]!.paper).toBeNull();
  });

  it("published anchors: a peer's benchmark build is compared with that benchmark's rows; subsets said; the seed paper only from its own table", () => {
    const vanillaOnly = (dataset: 'cmnist-lff' | 'bar', ratio: number): ExperimentResult => ({
      experimentId: `${dataset}/${ratio}/0/x`, dataset, ratio, seed: 0, configHash: 'x', reportKey: 'k',
      accuracy: { vanilla: { unbiased: 48, aligned: 99, conflicting: 43 } },
    });
    const [bar, lff] = aggregateSweep([vanillaOnly('cmnist-lff', 1), vanillaOnly('bar', 5)]);
    expect(lff!.published.filter((p) => p.method === 'ERM')).toMatchObject([{ value: 50.34, subset: 'unbiased', source: 'denetdm' }]);
    expect(bar!.published.find((p) => p.method === 'LC')).toMatchObject({ value: 74.32, subset: 'conflicting' });
    expect(bar!.published.some((p) => p.source === 'diffubias')).toBe(false);
    const md = sweepMarkdown({ sweepId: 's', rows: [bar!, lff!], experiments: [] });
    // A vanilla-only sweep has no f_B, DiffuBias or gain columns.
    expect(md).toContain('| dataset | ratio | n | Vanilla | published (%) | wall per run | unit time per run | Wh per run |');
    expect(md).toContain('| bar | 5% | 1 | 48.00 ± n/a | paper DiffuBias 85.23; DeNetDM: ERM 68.60 (conflicting),');
    expect(md).toContain('| cmnist-lff | 1% | 1 | 48.00 ± n/a | DeNetDM: ERM 50.34,');
    expect(md).not.toContain('gain');
  });

  it('renders the table: mean ± std, n/a for one seed, published anchors with their sources, failures named', () => {
    const results = [result('cmnist', 1, 0, 70), result('cmnist', 1, 1, 80), result('cmnist', 5, 0, 90)];
    results[0]!.accuracy.vanilla = { unbiased: 50, aligned: 99, conflicting: 45 };
    results[1]!.accuracy.vanilla = { unbiased: 60, aligned: 99, conflicting: 55 };
    // Energy per run: 2 Wh and 4 Wh (0.95 and 1.91 gCO2eq); the 5% cell measured none.
    results[0]!.energy = { stages: [], models: [], total: { ...energyAt(0.002), gCo2eq: 0.95 } };
    results[1]!.energy = { stages: [], models: [], total: { ...energyAt(0.004), gCo2eq: 1.91 } };
    results[0]!.wallSeconds = 600;
    results[1]!.wallSeconds = 840;
    // A run that found every unit stored (a re-run) says nothing of the cell's cost: left out.
    results[2]!.wallSeconds = 4;
    results[2]!.reuse = [{ stage: 'prepareDataset', units: 1, reused: 1 }, { stage: 'generateBatch', units: 30, reused: 30 }];
    // The units' own time counts stored units as they were computed: the re-run still says what the cell cost.
    results[0]!.unitSeconds = 300;
    results[1]!.unitSeconds = 420;
    results[2]!.unitSeconds = 1500;
    const rows = aggregateSweep(results);
    expect(rows[0]!.published.map((p) => `${p.method} ${p.value}`)).toContain('DisEnt 81.73');
    const md = sweepMarkdown({ sweepId: 's1', rows, experiments: [{ workflowId: 'w', status: 'failed', error: 'no such bundle' }] });
    const lines = md.split('\n');
    // No cell trained f_B here: no f_B column.
    expect(lines.find((l) => l.startsWith('| dataset'))).toBe('| dataset | ratio | n | Vanilla | DiffuBias | gain | gain > 2 std | published (%) | wall per run | unit time per run | Wh per run |');
    // Gains per seed 20 and 20: std 0, so 20 > 2 x 0; wall 10 and 14 minutes; unit time 5 and 7.
    expect(lines.find((l) => l.startsWith('| cmnist | 1% |'))).toBe('| cmnist | 1% | 2 | 55.00 ± 7.07 | 75.00 ± 7.07 | +20.00 ± 0.00 | yes | DeNetDM: ERM 50.34, LfF 74.01, DFA (DisEnt) 71.04, LC 78.41, DeNetDM 85.22; DisEnt: Vanilla 52.09, LfF 61.89, DisEnt 81.73 | 12.0 min ± 2.8 | 6.0 min ± 1.4 | 3.00 ± 1.41 (1.43 gCO2eq) |');
    expect(lines.find((l) => l.startsWith('| cmnist | 5% |'))).toContain('| 1 | n/a | 90.00 ± n/a | n/a | n/a |');
    expect(lines.find((l) => l.startsWith('| cmnist | 5% |'))).toMatch(/\| n\/a \| 25\.0 min \| n\/a \|$/);
    expect(md).toContain('Unit time per run: the wall seconds its units record, summed');
    expect(md).toContain('Published: Lee et al.');
    expect(md).toContain('- w: no such bundle');
    expect(sweepHtml({ sweepId: 's1', rows, experiments: [] })).toContain('<td>75.00 ± 7.07</td>');
    expect(sweepHtml({ sweepId: 's1', rows, experiments: [{ workflowId: 'w', status: 'failed', error: 'no such bundle' }] })).toContain('<p>1 of 1 experiments failed:</p>');
    expect(formatStat(undefined)).toBe('n/a');
  });

  it('the gain is paired by seed, and beats vanilla only when it exceeds twice its spread', () => {
    const cell = (seed: number, debiased: number, vanilla: number) => {
      const r = result('cmnist', 1, seed, debiased);
      r.accuracy.vanilla = { unbiased: vanilla, aligned: 99, conflicting: vanilla - 5 };
      return r;
    };
    // Per seed +10, +8, +12: mean 10, std 2: 10 > 4.
    const clear = aggregateSweep([cell(0, 70, 60), cell(1, 58, 50), cell(2, 77, 65)]);
    expect(clear[0]!.gain).toMatchObject({ mean: 10, std: 2, n: 3 });
    expect(sweepMarkdown({ sweepId: 'a', rows: clear, experiments: [] })).toContain('| +10.00 ± 2.00 | yes |');
    // Per seed +10, -2, +4: mean 4, std 6: not beyond the spread.
    const noisy = aggregateSweep([cell(0, 70, 60), cell(1, 48, 50), cell(2, 69, 65)]);
    expect(sweepMarkdown({ sweepId: 'b', rows: noisy, experiments: [] })).toContain('| +4.00 ± 6.00 | no |');
    // One seed has no spread to compare with.
    expect(sweepMarkdown({ sweepId: 'c', rows: aggregateSweep([cell(0, 70, 60)]), experiments: [] })).toContain('| +10.00 ± n/a | n/a |');
  });

  it("the protocol line names a role's own epochs and where it started when they differ from the others'", () => {
    const valid = { bias: 'unbiased' as const, images: 5000, conflicting: 4479 };
    const protocol = (epochs: number, startedFrom?: string) => ({ selection: 'last' as const, valid, init: 'torch' as const, epochs, ...(startedFrom ? { startedFrom } : {}) });
    const training = (p: ReturnType<typeof protocol>) => ({ protocol: p, bestEpoch: p.epochs, validAccuracy: 50, validCurve: [] });
    const chosen = { ...result('cmnist', 1, 0, 70), training: { vanilla: training(protocol(50)), biased: training(protocol(2)), debiased: training(protocol(50, 'stages/trainClassifier/biased/x/model.bin')) } };
    const md = sweepMarkdown({ sweepId: 's2', rows: aggregateSweep([chosen]), experiments: [] });
    expect(md).toContain('Protocol: 50 epochs; Vanilla last epoch, f_B 2 epochs, last epoch, DiffuBias from f_B, last epoch; validation unbiased (5000 images); init torch.');
  });

  it('a second table gives worst class / worst group per model where the results measured them, n/a without bias labels', () => {
    const a = result('cmnist', 1, 0, 70);
    const b = result('cmnist', 1, 1, 80);
    a.accuracy.debiased = { ...a.accuracy.debiased!, worstClass: 40, worstGroup: 10 };
    b.accuracy.debiased = { ...b.accuracy.debiased!, worstClass: 50, worstGroup: 20 };
    // An own dataset without bias labels: its worst group is NaN, stored as null.
    const own = { ...result('cmnist', 5, 0, 90), dataset: 'leaves' };
    own.accuracy.debiased = { ...own.accuracy.debiased!, worstClass: 60, worstGroup: Number.NaN };
    const md = sweepMarkdown({ sweepId: 'w', rows: aggregateSweep([a, b, own]), experiments: [] });
    expect(md).toContain('| DiffuBias worst class / worst group |');
    expect(md).toContain('| cmnist | 1% | 2 | 45.00 ± 7.07 / 15.00 ± 7.07 |');
    expect(md).toContain('| leaves | 5% | 1 | 60.00 ± n/a / n/a |');
    expect(sweepHtml({ sweepId: 'w', rows: aggregateSweep([a, b, own]), experiments: [] })).toContain('<td>45.00 ± 7.07 / 15.00 ± 7.07</td>');
    // Results from before worst class was measured: no second table.
    expect(sweepMarkdown({ sweepId: 'o', rows: aggregateSweep([result('cmnist', 1, 0, 70)]), experiments: [] })).not.toContain('worst class');
  });
});
