import { describe, expect, it } from 'vitest';
import type { ExperimentResult } from '../../stages/contracts';
import { aggregateSweep } from '../../stages/report/sweep-aggregate';
import { meanStd } from '../../stages/report/stats';

const result = (dataset: 'cmnist' | 'bffhq', ratio: number, seed: number, debiased: number): ExperimentResult => ({
  experimentId: `${dataset}/${ratio}/${seed}/x`, dataset, ratio, seed, configHash: 'x',
  accuracy: { debiased: { unbiased: debiased, aligned: 90, conflicting: debiased - 10 } },
  topK: { k: 1, mode: 'global', selected: 1, precision: 1, recall: 1 },
  captions: { images: 1, kept: 1, dropped: 0, topWords: [] }, generated: 1, reportKey: 'k',
});

describe('sweep aggregation', () => {
  it('mean and sample std', () => {
    expect(meanStd([1, 2, 3])).toEqual({ mean: 2, std: 1, n: 3 });
    expect(meanStd([5])).toEqual({ mean: 5, std: 0, n: 1 });
  });

  it('groups by dataset and ratio, with the paper beside ours', () => {
    const rows = aggregateSweep([result('bffhq', 1, 0, 70), result('bffhq', 1, 1, 80), result('cmnist', 0.5, 0, 50)]);
    expect(rows.map((r) => [r.dataset, r.ratio, r.seeds])).toEqual([['bffhq', 1, [0, 1]], ['cmnist', 0.5, [0]]]);
    expect(rows[0]!.ours.debiased!.unbiased.mean).toBe(75);
    expect(rows[0]!.ours.debiased!.unbiased.std).toBeCloseTo(Math.SQRT2 * 5);
    expect(rows[0]!.paper).toMatchObject({ DiffuBias: 79.48, Vanilla: 60.96 });
    expect(rows[1]!.paper).toBeNull();
  });
});
