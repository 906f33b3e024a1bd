import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { UNKNOWN_BIAS } from '../../core/bias';
import { openDataSource } from '../../core/data-source';
import { BadInputError } from '../../core/errors';
import { checkDataset } from '../../datasets/check';
import { listDatasetSplit } from '../../datasets/layouts';
import { parseDatasetSpec } from '../../datasets/spec-schema';
import { syntheticItems } from '../support/synthetic-images';

const CLASSES = ['landbird', 'waterbird'];
/** Waterbirds' metadata.csv: img_id, img_filename, y, split (0 train, 1 valid, 2 test), place. */
const waterbirds = {
  name: 'waterbirds', classNames: CLASSES, imageSize: 28, layout: 'csv',
  csv: { file: 'metadata.csv', columns: { path: 'img_filename', label: 'y', bias: 'place', split: 'split' } },
};

let root: string;
const truth: { path: string; label: number; bias: number; split: number }[] = [];
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'csv-layout-'));
  const lines = ['img_id,img_filename,y,split,place'];
  for (const item of await syntheticItems(40, { classes: 2, size: 28, seed: 3, conflictEvery: 4 })) {
    const i = truth.length;
    const path = `${String(i % 5).padStart(3, '0')}.Species/img_${i}.png`;
    mkdirSync(join(root, 'waterbirds', path, '..'), { recursive: true });
    writeFileSync(join(root, 'waterbirds', path), await item.load());
    truth.push({ path, label: item.label, bias: item.bias, split: i % 5 === 3 ? 2 : i % 5 === 4 ? 1 : 0 });
    lines.push(`${i},${path},${item.label},${truth[i]!.split},${item.bias}`);
  }
  writeFileSync(join(root, 'waterbirds', 'metadata.csv'), `${lines.join('\n')}\n`);
  // CelebA: the split in a second file, keyed by the image's path.
  mkdirSync(join(root, 'faces'));
  // CelebA's attributes are -1 / 1.
  const pm = (v: number) => (v === 0 ? -1 : 1);
  writeFileSync(join(root, 'faces', 'attrs.csv'), `image_id,Blond_Hair,Male\n${truth.map((t) => `${t.path},${pm(t.label)},${pm(t.bias)}`).join('\n')}\n`);
  writeFileSync(join(root, 'faces', 'partition.csv'), `image_id,partition\n${truth.map((t) => `${t.path},${t.split}`).join('\n')}\n`);
});

describe('metadata-CSV layout', () => {
  it('Waterbirds: a row per image gives its path, label, bias and split', async () => {
    const spec = parseDatasetSpec(waterbirds, 'spec');
    const source = openDataSource(root);
    for (const [split, value] of [['train', 0], ['valid', 1], ['test', 2]] as const) {
      const { samples } = await listDatasetSplit(source, spec, 1, split);
      expect(samples).toEqual(truth.filter((t) => t.split === value).map((t) => ({ path: `waterbirds/${t.path}`, label: t.label, bias: t.bias })));
    }
    const check = await checkDataset(source, spec, 1);
    expect(check.errors).toEqual([]);
    expect(check.splits.train?.conflicting).toBe(truth.filter((t) => t.split === 0 && t.label !== t.bias).length);
  });

  it('CelebA: labels and bias from the attribute file, splits from the partition file; without a bias column, no bias labels', async () => {
    const celeba = parseDatasetSpec({
      name: 'faces', classNames: ['not_blond', 'blond'], imageSize: 28, layout: 'csv',
      csv: {
        file: 'attrs.csv', columns: { path: 'image_id', label: 'Blond_Hair', bias: 'Male' }, classValues: ['-1', '1'],
        splitFile: { file: 'partition.csv', path: 'image_id', split: 'partition' },
      },
    }, 'spec');
    const test = await listDatasetSplit(openDataSource(root), celeba, 1, 'test');
    expect(test.samples).toEqual(truth.filter((t) => t.split === 2).map((t) => ({ path: `faces/${t.path}`, label: t.label, bias: t.bias })));
    const unlabelled = parseDatasetSpec({ ...waterbirds, csv: { ...waterbirds.csv, columns: { path: 'img_filename', label: 'y', split: 'split' } } }, 'spec');
    const train = await listDatasetSplit(openDataSource(root), unlabelled, 1, 'train');
    expect(new Set(train.samples.map((s) => s.bias))).toEqual(new Set([UNKNOWN_BIAS]));
  });

  it('a wrong row or column is bad input naming the file and line; the spec must say how the CSV reads', async () => {
    const bad = mkdtempSync(join(tmpdir(), 'csv-bad-'));
    mkdirSync(join(bad, 'waterbirds'));
    writeFileSync(join(bad, 'waterbirds', 'metadata.csv'), 'img_id,img_filename,y,split,place\n0,a.png,0,0,1\n1,b.png,7,0,0\n');
    const err = await listDatasetSplit(openDataSource(bad), parseDatasetSpec(waterbirds, 'spec'), 1, 'train').then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BadInputError);
    expect((err as Error).message).toBe(`${join(bad, 'waterbirds/metadata.csv')} line 3: label "7" is not a class index or one of the classNames`);
    writeFileSync(join(bad, 'waterbirds', 'metadata.csv'), 'id,file\n0,a.png\n');
    await expect(listDatasetSplit(openDataSource(bad), parseDatasetSpec(waterbirds, 'spec'), 1, 'train')).rejects.toThrow('no column "img_filename" (csv.columns.path); the header has id, file');
    expect(() => parseDatasetSpec({ ...waterbirds, csv: undefined }, 'my.json')).toThrow('my.json: not a valid dataset spec: csv: layout csv needs this section');
  });

  it('a class missing from a split is found and named at the metadata file, where its rows would go', async () => {
    const spec = parseDatasetSpec({ ...waterbirds, classNames: [...CLASSES, 'seabird'] }, 'spec');
    const check = await checkDataset(openDataSource(root), spec, 1);
    expect(check.errors).toEqual(expect.arrayContaining([
      { kind: 'missing-class', where: join(root, 'waterbirds', 'metadata.csv'), detail: 'train has no image of class 2 (seabird)' },
    ]));
  });
});
