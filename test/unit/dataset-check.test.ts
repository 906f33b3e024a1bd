import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDataSource } from '../../core/data-source';
import { checkDataset, describeCheck } from '../../datasets/check';
import { buildColoredMnist } from '../../datasets/cmnist/build';
import { checkDatasetCommand } from '../../cli/commands/dataset';
import { DATASETS } from '../../datasets/specs';
import { settingsFromEnv } from '../../core/settings';

let root: string;
const files = (dir: string) => readdirSync(join(root, dir), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'dataset-check-'));
  await buildColoredMnist({ out: root, ratios: [1], seed: 0, limit: 300 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('dataset check', () => {
  it('finds nothing wrong in a sound build, and counts per split and class', async () => {
    const check = await withDataSource(root, undefined, (s) => checkDataset(s, DATASETS.cmnist, 1));
    expect(check.errors).toEqual([]);
    expect(check.splits.train?.images).toBe(300);
    expect(check.splits.test?.perClass.reduce((a, b) => a + b, 0)).toBe(300);
  });

  it('names a truncated PNG, an image in both train and test, and a class missing from test; the command exits 1', async () => {
    const train = files('cmnist/1pct/align');
    const truncated = train[0]!;
    writeFileSync(truncated, readFileSync(truncated).subarray(0, 60));
    // The same bytes under a test name of its own class (name: <idx>_<label>_<bias>.png).
    const leaked = train[5]!;
    const name = leaked.slice(leaked.lastIndexOf('/') + 1);
    const label = name.split('_')[1]!;
    const leakCopy = join(root, 'cmnist/test/align', label, `99999_${name.split('_').slice(1).join('_')}`);
    copyFileSync(leaked, leakCopy);
    // Every test image of class 3 removed.
    for (const f of files('cmnist/test').filter((f) => f.split('/').at(-2) === '3')) rmSync(f);

    const check = await withDataSource(root, undefined, (s) => checkDataset(s, DATASETS.cmnist, 1));
    expect(check.errors).toEqual(expect.arrayContaining([
      expect.objectContaining({ kind: 'truncated', where: truncated }),
      expect.objectContaining({ kind: 'leak', where: leakCopy, detail: expect.stringContaining(leaked) }),
      expect.objectContaining({ kind: 'missing-class', where: join(root, 'cmnist/test'), detail: 'test has no image of class 3 (three)' }),
    ]));
    const text = describeCheck(check).join('\n');
    expect(text).toContain(`truncated: ${truncated}: PNG without its IEND chunk`);

    let printed = '';
    const code = await checkDatasetCommand(root, { dataset: 'cmnist', ratio: 1, json: true, namesOnly: false }, settingsFromEnv({}), (t) => { printed += t; });
    expect(code).toBe(1);
    expect((JSON.parse(printed) as { errors: unknown[] }).errors.length).toBe(check.errors.length);
  });
});
