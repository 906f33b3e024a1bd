/**
 * One vanilla (CE) baseline through the product's stage engines (prepareDataset, trainClassifier,
 * evaluate, each a cached stage unit), in this process, against an embedded S3 of its own under
 * .diffubias/s3-baseline (scripts/stage-harness.ts); prints one JSON line. It made docs/protocol.md's baseline table; an
 * experiment mode that trains vanilla only, as a durable workflow that `reproduce` can run, is to
 * replace it.
 *
 *   npx tsx scripts/vanilla-baseline.ts <dataset> <ratio> <seed> <epochs> <normalize> <arch> [lr]
 *   npx tsx scripts/vanilla-baseline.ts cmnist-lff 1 0 100 divide-255 mlp     # the peers' protocol
 */
import { evaluateEngine, trainClassifierEngine } from '../stages/classifier-stages';
import { parseExperimentConfig } from '../stages/config/schema';
import { roleTraining } from '../stages/config/role-training';
import { runScript, withStageHarness } from './stage-harness';

async function main(): Promise<void> {
  const [dataset, ratio, seed, epochs, normalize, arch, lr] = process.argv.slice(2);
  if (arch === undefined) throw new Error('usage: vanilla-baseline.ts <dataset> <ratio> <seed> <epochs> <normalize> <arch> [lr]');
  const config = parseExperimentConfig({
    dataset, ratio: Number(ratio), seed: Number(seed), train: { epochs: Number(epochs), lr: Number(lr ?? 1e-3) }, classifier: { normalize, arch },
  });
  const experimentId = `baseline/${config.dataset}/${config.ratio}/${config.seed}`;
  await withStageHarness(experimentId, async ({ run, prepare }) => {
    const started = performance.now();
    const { data, prepared } = await prepare(config);
    const trained = await run('trainClassifier', 'vanilla', trainClassifierEngine, {
      experimentId, role: 'vanilla', loss: 'ce', dataset: data, train: roleTraining(config.train, 'vanilla'), classifier: config.classifier, seed: config.seed,
      selection: 'last', valid: config.selection.valid,
    });
    const evaluated = await run('evaluate', 'vanilla', evaluateEngine, { experimentId, role: 'vanilla', modelKey: trained.outputs.modelKey, dataset: data });
    console.log(JSON.stringify({
      dataset: config.dataset, ratio: config.ratio, seed: config.seed, epochs: config.train.epochs, normalize, arch, lr: config.train.lr,
      train: prepared.counts.train, ...evaluated.outputs.accuracy, validLast: trained.outputs.validAccuracy,
      seconds: Math.round((performance.now() - started) / 1000), reused: trained.cached,
    }));
  });
}

runScript(main);
