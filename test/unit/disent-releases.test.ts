import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openDataSource } from '../../core/data-source';
import { checkDataset } from '../../datasets/check';
import { listDatasetSplit } from '../../datasets/layouts';
import { DATASETS } from '../../datasets/specs';
import { syntheticItems } from '../support/synthetic-images';

/**
 * Small replicas of the folder shapes the photo datasets are released in (DisEnt / BiasEnsemble):
 * train under `<pct>/{align,conflict}/<label>/`; BFFHQ, BAR and Dogs & Cats keep valid/ and test/
 * flat beside the ratio folders, Corrupted CIFAR-10 puts valid/ inside the ratio folder and test/
 * in class folders. Every file is `<idx>_<label>_<bias>.png`. The releases themselves are not
 * reachable here; these are the shapes their loaders glob for.
 */
type Shape = { valid: 'flat' | 'in-ratio'; test: 'flat' | 'by-class' };
const RELEASES: [keyof typeof DATASETS, number, Shape][] = [
  ['bffhq', 0.5, { valid: 'flat', test: 'flat' }],
  ['bar', 1, { valid: 'flat', test: 'flat' }],
  ['dogs_and_cats', 5, { valid: 'flat', test: 'flat' }],
  ['cifar10c', 2, { valid: 'in-ratio', test: 'by-class' }],
];

let root: string;
let index = 0;
async function put(dir: string, label: number, bias: number): Promise<void> {
  mkdirSync(join(root, dir), { recursive: true });
  const [item] = await syntheticItems(1, { classes: 2, size: 28, seed: index });
  writeFileSync(join(root, dir, `${index++}_${label}_${bias}.png`), await item!.load());
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'disent-releases-'));
  for (const [name, ratio, shape] of RELEASES) {
    const classes = DATASETS[name].classNames.length;
    const pct = `${name}/${ratio}pct`;
    for (let label = 0; label < classes; label++) {
      // Per class: 12 aligned and 1 conflicting training image, 2 valid and 2 test (one of each kind).
      for (let i = 0; i < 12; i++) await put(`${pct}/align/${label}`, label, label);
      await put(`${pct}/conflict/${label}`, label, (label + 1) % classes);
      for (const bias of [label, (label + 1) % classes]) {
        await put(shape.valid === 'flat' ? `${name}/valid` : `${pct}/valid`, label, bias);
        await put(shape.test === 'flat' ? `${name}/test` : `${name}/test/${label}`, label, bias);
      }
    }
  }
});

describe.each(RELEASES)("%s as released (%s%%)", (name, ratio) => {
  it('lists every split with labels and bias from the names, and passes the dataset check', async () => {
    const classes = DATASETS[name].classNames.length;
    const source = openDataSource(root);
    const train = await listDatasetSplit(source, DATASETS[name], ratio, 'train');
    expect(train.samples).toHaveLength(13 * classes);
    expect(train.samples.filter((s) => s.label !== s.bias)).toHaveLength(classes);
    for (const split of ['valid', 'test'] as const) {
      const listed = await listDatasetSplit(source, DATASETS[name], ratio, split);
      expect(listed.samples).toHaveLength(2 * classes);
      expect(new Set(listed.samples.map((s) => s.label)).size).toBe(classes);
    }
    const check = await checkDataset(source, DATASETS[name], ratio, { minPerClass: 5 });
    expect(check.errors).toEqual([]);
    expect(check.splits.test?.conflicting).toBe(classes);
  });
});
