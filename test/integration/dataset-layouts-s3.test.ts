import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedS3, type EmbeddedS3 } from '../../cli/stack/s3-server';
import { openDataSource } from '../../core/data-source';
import { ArtifactStore } from '../../core/store';
import { checkDataset } from '../../datasets/check';
import { exportDataset } from '../../datasets/export';
import { listDatasetSplit } from '../../datasets/layouts';
import { parseDatasetSpec } from '../../datasets/spec-schema';
import { specOf } from '../../datasets/specs';
import { writeSyntheticCmnist } from '../support/synthetic-dataset';

/**
 * The own-data layouts read from an s3:// prefix exactly as from a folder: the same samples, labels
 * and bias labels, the same carved splits, the same check. Colored MNIST (synthetic) is exported to
 * an ImageFolder (no bias, no valid folder) and a metadata CSV (bias kept), and both are uploaded.
 */
let s3: EmbeddedS3;
let store: ArtifactStore;
let local: string;

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), 'layouts-s3-'));
  const built = join(root, 'built');
  await writeSyntheticCmnist(built);
  local = join(root, 'own');
  const cmnist = openDataSource(built);
  await exportDataset(cmnist, specOf({ name: 'cmnist' }), 1, { out: local, name: 'digits_if', layout: 'imagefolder' });
  // Without its valid folder, the ImageFolder's valid split is carved from train (seeded) on both sides.
  rmSync(join(local, 'digits_if', 'valid'), { recursive: true });
  await exportDataset(cmnist, specOf({ name: 'cmnist' }), 1, { out: local, name: 'digits_csv', layout: 'csv' });
  s3 = await startEmbeddedS3({ directory: join(root, 's3'), bucket: 'data' });
  store = new ArtifactStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'data', prefix: '', credentials: s3.credentials });
  for (const file of filesUnder(local)) await store.put(`datasets/${relative(local, file)}`, readFileSync(file));
});
afterAll(async () => {
  store?.destroy();
  await s3?.close();
});

const specAt = (name: string) => parseDatasetSpec(JSON.parse(readFileSync(join(local, name, 'dataset.json'), 'utf8')), `${name}/dataset.json`);

describe.each([
  ['imagefolder', 'digits_if'],
  ['csv', 'digits_csv'],
])('the %s layout from s3://', (layout, name) => {
  it('lists the same samples, labels and bias labels in every split as the local folder', async () => {
    const spec = specAt(name);
    expect(spec.layout).toBe(layout);
    const remote = openDataSource('s3://data/datasets', store.settings);
    const here = openDataSource(local);
    try {
      for (const split of ['train', 'valid', 'test'] as const) {
        const [a, b] = await Promise.all([listDatasetSplit(here, spec, 1, split), listDatasetSplit(remote, spec, 1, split)]);
        expect(b.samples.length).toBeGreaterThan(0);
        expect(b.samples).toEqual(a.samples);
        expect(b.skipped).toEqual(a.skipped);
        // An image read through the s3 source is the local file's bytes.
        const first = b.samples[0]!;
        expect(Buffer.compare(await remote.read(first.path), await here.read(first.path))).toBe(0);
      }
    } finally {
      remote.close();
      here.close();
    }
  });

  it('passes the same dataset check from s3:// as from the folder', async () => {
    const spec = specAt(name);
    const remote = openDataSource('s3://data/datasets', store.settings);
    const here = openDataSource(local);
    try {
      const [a, b] = await Promise.all([checkDataset(here, spec, 1), checkDataset(remote, spec, 1)]);
      expect(b.splits).toEqual(a.splits);
      expect(b.splits.train!.images).toBeGreaterThan(0);
      // Findings name files under each source's own root; what was found is the same.
      const found = (c: typeof a) => [...c.errors, ...c.warnings].map((f) => `${f.kind}: ${f.detail}`).sort();
      expect(found(b)).toEqual(found(a));
      expect(b.errors).toEqual([]);
    } finally {
      remote.close();
      here.close();
    }
  });
});
