import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { UNKNOWN_BIAS } from '../../core/bias';
import { openDataSource } from '../../core/data-source';
import { BadInputError } from '../../core/errors';
import { checkDataset } from '../../datasets/check';
import { listDatasetSplit } from '../../datasets/layouts';
import { carvedCount } from '../../datasets/imagefolder/layout';
import { parseDatasetSpec } from '../../datasets/spec-schema';
import { syntheticItems } from '../support/synthetic-images';

const CLASSES = ['cat', 'dog', 'fox'];
const spec = parseDatasetSpec({ name: 'pets', classNames: CLASSES, imageSize: 28, layout: 'imagefolder' }, 'test spec');

/** `<root>/pets/<split>/<class>/img-<i>.png`, 10 images a class per split given. */
async function writeImageFolder(root: string, splits: string[]): Promise<void> {
  for (const [s, split] of splits.entries()) {
    for (const item of await syntheticItems(30, { classes: 3, size: 28, seed: s + 1 })) {
      const dir = join(root, 'pets', split, CLASSES[item.label]!);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `img-${item.location.slice(item.location.lastIndexOf('/') + 1)}`), await item.load());
    }
  }
}

describe('ImageFolder layout', () => {
  let full: string;
  let trainOnly: string;
  beforeAll(async () => {
    full = mkdtempSync(join(tmpdir(), 'imagefolder-'));
    await writeImageFolder(full, ['train', 'valid', 'test']);
    trainOnly = mkdtempSync(join(tmpdir(), 'imagefolder-train-'));
    await writeImageFolder(trainOnly, ['train']);
  });

  it('labels images by their class folder, any names, no bias labels; the ratio picks nothing', async () => {
    const source = openDataSource(full);
    const train = await listDatasetSplit(source, spec, 1, 'train');
    expect(train.samples).toHaveLength(30);
    expect(new Set(train.samples.map((s) => s.bias))).toEqual(new Set([UNKNOWN_BIAS]));
    for (const s of train.samples) expect(s.path.startsWith(`pets/train/${CLASSES[s.label]}/img-`)).toBe(true);
    expect((await listDatasetSplit(source, spec, 5, 'train')).samples).toEqual(train.samples);
    expect((await listDatasetSplit(source, spec, 1, 'test')).samples).toHaveLength(30);
  });

  it('carves missing valid and test splits from train, per class, the same way every time, without overlap', async () => {
    const source = openDataSource(trainOnly);
    const list = (split: 'train' | 'valid' | 'test') => listDatasetSplit(source, spec, 1, split);
    const train = await list('train');
    const valid = await list('valid');
    const test = await list('test');
    const paths = [train, valid, test].map((l) => l.samples.map((s) => s.path));
    expect(new Set(paths.flat()).size).toBe(30);
    // Per class: a fifth (rounded down) to test, a tenth to valid, the rest stays in train.
    const perClass = [0, 1, 2].map((c) => [train, valid, test].reduce((n, l) => n + l.samples.filter((s) => s.label === c).length, 0));
    const share = (f: number) => perClass.reduce((n, k) => n + carvedCount(k, f), 0);
    expect(paths.map((p) => p.length)).toEqual([30 - share(0.1) - share(0.2), share(0.1), share(0.2)]);
    for (const l of [valid, test]) expect(new Set(l.samples.map((s) => s.label)).size).toBe(3);
    expect((await listDatasetSplit(source, spec, 1, 'test')).samples).toEqual(test.samples);
    // Another seed, another split.
    const other = parseDatasetSpec({ name: 'pets', classNames: CLASSES, imageSize: 28, layout: 'imagefolder', carve: { valid: 0.1, test: 0.2, seed: 7 } }, 'w');
    expect((await listDatasetSplit(source, other, 1, 'test')).samples).not.toEqual(test.samples);
  });

  it('a class folder the spec does not name is bad input naming the file; dataset check reports it and counts no bias-conflicting images', async () => {
    const root = mkdtempSync(join(tmpdir(), 'imagefolder-bad-'));
    await writeImageFolder(root, ['train', 'valid', 'test']);
    mkdirSync(join(root, 'pets', 'train', 'wolf'));
    writeFileSync(join(root, 'pets', 'train', 'wolf', 'w.png'), 'x');
    const err = await listDatasetSplit(openDataSource(root), spec, 1, 'train').then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BadInputError);
    expect((err as Error).message).toBe(`${join(root, 'pets/train/wolf/w.png')}: class folder "wolf" is not one of the spec's classNames`);
    const check = await checkDataset(openDataSource(root), spec, 1);
    expect(check.errors.map((e) => e.kind)).toEqual(['bad-name']);
    expect(check.splits.train).toMatchObject({ images: 30, conflicting: 0, perClass: [10, 10, 10] });
  });
});
