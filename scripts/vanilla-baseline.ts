/**
 * One vanilla (CE) baseline through the product's stage engines (prepareDataset, trainClassifier,
 * evaluate, each a cached stage unit), in this process, against an embedded S3 of its own under
 * .diffubias/s3-baseline; prints one JSON line. It made docs/protocol.md's baseline table; an
 * experiment mode that trains vanilla only, as a durable workflow that `reproduce` can run, is to
 * replace it.
 *
 *   npx tsx scripts/vanilla-baseline.ts <dataset> <ratio> <seed> <epochs> <normalize> <arch> [lr]
 *   npx tsx scripts/vanilla-baseline.ts cmnist-lff 1 0 100 divide-255 mlp     # the peers' protocol
 */
import { join } from 'node:path';
import { startEmbeddedS3 } from '../cli/stack/s3-server';
import { ArtifactStore } from '../core/store';
import { EMBEDDED_S3_CREDENTIALS } from '../core/settings';
import { runStageUnit } from '../stages/runner/stage-runner';
import { prepareDatasetEngine } from '../stages/prepare-dataset';
import { evaluateEngine, trainClassifierEngine } from '../stages/classifier-stages';
import { parseExperimentConfig } from '../stages/config/schema';
import { STAGE_VERSIONS } from '../stages/stage-versions';
import type { StageEngine } from '../stages/context';
import type { DatasetRef } from '../stages/contracts';

async function main(): Promise<void> {
  const [dataset, ratio, seed, epochs, normalize, arch, lr] = process.argv.slice(2);
  if (arch === undefined) throw new Error('usage: vanilla-baseline.ts <dataset> <ratio> <seed> <epochs> <normalize> <arch> [lr]');
  const config = parseExperimentConfig({
    dataset, ratio: Number(ratio), seed: Number(seed), train: { epochs: Number(epochs), lr: Number(lr ?? 1e-3) }, classifier: { normalize, arch },
  });
  const s3 = await startEmbeddedS3({ directory: join(process.cwd(), '.diffubias', 's3-baseline'), bucket: 'diffubias' });
  const store = new ArtifactStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'diffubias', prefix: '', credentials: EMBEDDED_S3_CREDENTIALS });
  try {
    const experimentId = `baseline/${config.dataset}/${config.ratio}/${config.seed}`;
    const run = <I extends object, O>(stage: keyof typeof STAGE_VERSIONS, unit: string, engine: StageEngine<I, O>, inputs: I) =>
      runStageUnit(store, { experimentId, stage, version: STAGE_VERSIONS[stage], unit, inputs }, { progress() {} }, (ctx) => engine(inputs, ctx));
    const started = performance.now();
    const ref: DatasetRef = { name: config.dataset, ratio: config.ratio, seed: config.seed, root: join(process.cwd(), config.datasetRoot) };
    const prepared = await run('prepareDataset', 'dataset', prepareDatasetEngine, { experimentId, dataset: ref });
    const data: DatasetRef = { ...ref, contentId: prepared.outputs.contentId };
    const trained = await run('trainClassifier', 'vanilla', trainClassifierEngine, {
      experimentId, role: 'vanilla', loss: 'ce', dataset: data, train: config.train, classifier: config.classifier, seed: config.seed,
      selection: 'last', valid: config.selection.valid,
    });
    const evaluated = await run('evaluate', 'vanilla', evaluateEngine, { experimentId, role: 'vanilla', modelKey: trained.outputs.modelKey, dataset: data });
    console.log(JSON.stringify({
      dataset: config.dataset, ratio: config.ratio, seed: config.seed, epochs: config.train.epochs, normalize, arch, lr: config.train.lr,
      train: prepared.outputs.counts.train, ...evaluated.outputs.accuracy, validLast: trained.outputs.validAccuracy,
      seconds: Math.round((performance.now() - started) / 1000), reused: trained.cached,
    }));
  } finally {
    store.destroy();
    await s3.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
