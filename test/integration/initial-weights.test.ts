import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedS3, type EmbeddedS3 } from '../../cli/stack/s3-server';
import { resolveBundle } from '../../core/bundle-store';
import { BadInputError } from '../../core/errors';
import { ArtifactStore } from '../../core/store';
import { initBackend } from '../../engines/classifier/backend';
import { applyInitialWeights, INITIAL_WEIGHTS } from '../../engines/classifier/initial-weights';
import { buildModel, type ModelSpec } from '../../engines/classifier/models';

const tmp = mkdtempSync(join(tmpdir(), 'initial-weights-'));
const spec = (seed: number): ModelSpec => ({ arch: 'mlp', numClasses: 10, inputShape: [28, 28, 3], seed });
let s3: EmbeddedS3;
let store: ArtifactStore;
let files: Record<string, Uint8Array>;
let expected: Float32Array[];

beforeAll(async () => {
  await initBackend();
  const source = buildModel(spec(1));
  expected = await Promise.all(source.getWeights().map(async (w) => (await w.data()) as Float32Array));
  await source.save(tf.io.withSaveHandler(async (artifacts) => {
    const json = { modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: artifacts.weightSpecs }] };
    files = { 'model.json': Buffer.from(JSON.stringify(json)), 'group1-shard1of1.bin': new Uint8Array(artifacts.weightData as ArrayBuffer) };
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  source.dispose();
  s3 = await startEmbeddedS3({ directory: join(tmp, 's3'), bucket: 'weights' });
  store = new ArtifactStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'weights', prefix: '', credentials: s3.credentials });
  for (const [name, bytes] of Object.entries(files)) await store.put(`mlp/${name}`, bytes);
  await store.put('broken/model.json', files['model.json']!);
});
afterAll(async () => {
  store.destroy();
  await s3.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function weightsAfterApplying(location: string): Promise<Float32Array[]> {
  const model = buildModel(spec(2));
  const bundle = await resolveBundle(location, INITIAL_WEIGHTS, { s3: store.settings, cacheRoot: join(tmp, 'cache') });
  const copied = await applyInitialWeights(model, bundle, () => {});
  expect(copied).toBe(model.weights.length);
  const out = await Promise.all(model.getWeights().map(async (w) => (await w.data()) as Float32Array));
  model.dispose();
  return out;
}

describe('initial weights through the bundle store', () => {
  it('copies every matching tensor from a folder and from an s3:// prefix', async () => {
    const dir = join(tmp, 'folder');
    mkdirSync(dir);
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
    expect(await weightsAfterApplying(dir)).toEqual(expected);
    expect(await weightsAfterApplying('s3://weights/mlp')).toEqual(expected);
  });

  it('a missing weight shard is bad input naming its s3:// key', async () => {
    const err = await weightsAfterApplying('s3://weights/broken').then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BadInputError);
    expect((err as BadInputError).where).toBe('s3://weights/broken/group1-shard1of1.bin');
  });
});
