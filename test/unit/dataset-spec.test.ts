import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../../core/errors';
import { loadDatasetSpec, parseDatasetSpec } from '../../datasets/spec-schema';
import { DATASET_NAMES, DATASETS } from '../../datasets/specs';

const valid = { name: 'waterbirds', classNames: ['landbird', 'waterbird'], imageSize: 224, augment: true };

function refusal(value: unknown): string {
  try {
    parseDatasetSpec(value, 'my/dataset.json');
  } catch (err) {
    expect(err).toBeInstanceOf(BadInputError);
    return (err as Error).message;
  }
  throw new Error('accepted');
}

describe('dataset specs by configuration', () => {
  it('the built-ins are specs of the same schema: each parses back to itself', () => {
    for (const name of DATASET_NAMES) {
      const spec = DATASETS[name];
      expect(parseDatasetSpec(JSON.parse(JSON.stringify(spec)), `built-in ${name}`), name).toEqual({ ...spec, classWords: spec.classWords.map((w) => [...w]) });
    }
  });

  it('fills defaults: each class named by its own name, ResNet-18, batch 64, no ratios', () => {
    expect(parseDatasetSpec(valid, 'w')).toEqual({
      ...valid, classWords: [['landbird'], ['waterbird']], arch: 'resnet18', paperRatios: [], paperTraining: { batchSize: 64 },
    });
  });

  it('a wrong spec is refused, naming the file and the field', () => {
    expect(refusal({ ...valid, colour: 'red' })).toBe('my/dataset.json: not a valid dataset spec: colour: unknown key');
    expect(refusal({ ...valid, classWords: [['land', 'bird']] })).toBe('my/dataset.json: not a valid dataset spec: classWords: 1 entries for 2 classes: no words for "waterbird"');
    expect(refusal({ ...valid, imageSize: 0 })).toMatch(/^my\/dataset\.json: not a valid dataset spec: imageSize: /);
    expect(refusal({ ...valid, classNames: ['a', 'a'] })).toBe('my/dataset.json: not a valid dataset spec: classNames: a class name appears twice');
    expect(refusal({ ...valid, name: '../up' })).toMatch(/name: lowercase letters, digits/);
    expect(refusal({ ...valid, paperTraining: { batchSize: 32, lrDecay: { every: 10, factor: 2 } } })).toMatch(/paperTraining\.lrDecay\.factor: /);
  });

  it('reads a dataset.json, and says so when the file is not JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dataset-spec-'));
    writeFileSync(join(dir, 'dataset.json'), JSON.stringify(valid));
    expect((await loadDatasetSpec(join(dir, 'dataset.json'), undefined)).classNames).toEqual(valid.classNames);
    writeFileSync(join(dir, 'broken.json'), '{ "name": ');
    await expect(loadDatasetSpec(join(dir, 'broken.json'), undefined)).rejects.toThrow(`${join(dir, 'broken.json')}: not a valid dataset spec: not JSON`);
  });
});
