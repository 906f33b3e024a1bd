import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedS3, type EmbeddedS3 } from '../../cli/stack/s3-server';
import { openDataSource } from '../../core/data-source';
import { ArtifactStore } from '../../core/store';
import { exportDataset } from '../../datasets/export';
import { parseDatasetSpec } from '../../datasets/spec-schema';
import { specOf } from '../../datasets/specs';
import { ANALYSIS, analyzeModelsEngine } from '../../stages/analyze-models';
import { readArtifact } from '../../stages/artifacts';
import { trainClassifierEngine } from '../../stages/classifier-stages';
import { parseExperimentConfig } from '../../stages/config/schema';
import type { DatasetRef, TrainClassifierInput } from '../../stages/contracts';
import { runStageUnit } from '../../stages/runner/stage-runner';
import { writeSyntheticCmnist } from '../support/synthetic-dataset';

/**
 * analyzeModels on a dataset without bias labels (Colored MNIST exported as an ImageFolder): the
 * embedding's real images form one group, `real`, instead of empty aligned / conflicting groups.
 */
let s3: EmbeddedS3;
let store: ArtifactStore;
let dataset: DatasetRef;

beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), 'analysis-unlabelled-'));
  await writeSyntheticCmnist(join(root, 'built'));
  await exportDataset(openDataSource(join(root, 'built')), specOf({ name: 'cmnist' }), 1, { out: join(root, 'own'), name: 'digits', layout: 'imagefolder' });
  const spec = parseDatasetSpec(JSON.parse(readFileSync(join(root, 'own', 'digits', 'dataset.json'), 'utf8')), 'digits/dataset.json');
  dataset = { name: 'digits', ratio: 1, seed: 0, root: join(root, 'own'), spec };
  s3 = await startEmbeddedS3({ directory: join(root, 's3'), bucket: 'analysis' });
  store = new ArtifactStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'analysis', prefix: '', credentials: s3.credentials });
});
afterAll(async () => {
  store?.destroy();
  await s3?.close();
});

describe('analysis without bias labels', () => {
  it("embeds the training images as one 'real' group; saliency uses test images of every class", async () => {
    const train = parseExperimentConfig({ dataset: 'cmnist', ratio: 1, train: { epochs: 1, batchSize: 16 } }).train;
    const trainInput = (role: 'biased' | 'debiased'): TrainClassifierInput => ({
      experimentId: 'a', role, loss: role === 'biased' ? 'gce' : 'ce', dataset, train, seed: 0, selection: 'last', valid: { bias: 'unbiased' },
    });
    const model = async (role: 'biased' | 'debiased') => {
      const input = trainInput(role);
      const done = await runStageUnit(store, { experimentId: 'a', stage: 'trainClassifier', version: 1, unit: role, inputs: input }, { progress() {} }, (ctx) => trainClassifierEngine(input, ctx));
      return done.outputs.modelKey;
    };
    const models = { biased: await model('biased'), debiased: await model('debiased') };
    const input = { experimentId: 'a', dataset, models, generatedManifests: [], saliencyImages: 4, embeddingPoints: 40, seed: 0 };
    const done = await runStageUnit(store, { experimentId: 'a', stage: 'analyzeModels', version: 1, unit: 'models', inputs: input }, { progress() {} }, (ctx) => analyzeModelsEngine(input, ctx));
    const analysis = await readArtifact(store, ANALYSIS, done.outputs.analysisKey);
    expect(new Set(analysis.embedding.points.map((p) => p.group))).toEqual(new Set(['real']));
    expect(analysis.embedding.points).toHaveLength(40);
    expect(analysis.saliency.images).toHaveLength(4);
  }, 120_000);
});
