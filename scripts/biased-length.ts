/**
 * How well f_B finds the bias-conflicting training images after each training length: f_B trained
 * for E epochs (GCE, last epoch kept), its per-sample losses scored and top-K selected as an
 * experiment does, through the product's stage engines (scripts/stage-harness.ts). One JSON line per
 * length: the selection's precision and recall (from the training split's bias labels, which
 * Colored MNIST has; a dataset without them has only f_B's validation accuracy, printed beside).
 * It made docs/protocol.md's "Choosing the recipe" f_B rows.
 *
 *   npx tsx scripts/biased-length.ts <config.yaml> <epochs,epochs,...>
 *   npx tsx scripts/biased-length.ts cell.yaml 1,2,3,5,10,20,50
 *   (cell.yaml: `dataset: cmnist`, `ratio: 1`, `seed: 0`, `topK: {k: 50, mode: per-class}`)
 */
import { readConfigFile } from '../stages/config/load';
import { parseExperimentConfig } from '../stages/config/schema';
import { roleTraining } from '../stages/config/role-training';
import { scoreLossesEngine, trainClassifierEngine } from '../stages/classifier-stages';
import { selectTopKEngine } from '../stages/select-top-k';
import { runScript, withStageHarness } from './stage-harness';

async function main(): Promise<void> {
  const [path, lengths] = process.argv.slice(2);
  if (lengths === undefined) throw new Error('usage: biased-length.ts <config.yaml> <epochs,epochs,...>');
  const config = parseExperimentConfig(await readConfigFile(path!), path);
  const epochsList = lengths.split(',').map(Number);
  const experimentId = `biased-length/${config.dataset}/${config.ratio}/${config.seed}`;
  await withStageHarness(experimentId, async ({ run, prepare }) => {
    const { data, prepared } = await prepare(config);
    for (const epochs of epochsList) {
      const started = performance.now();
      const biased = await run('trainClassifier', 'biased', trainClassifierEngine, {
        experimentId, role: 'biased', loss: config.biasedLoss, dataset: data, train: { ...roleTraining(config.train, 'biased'), epochs }, classifier: config.classifier, seed: config.seed,
        selection: config.selection.biased, valid: config.selection.valid,
      });
      const scores = await run('scoreLosses', 'biased', scoreLossesEngine, { experimentId, dataset: data, modelKey: biased.outputs.modelKey, gceQ: config.train.gceQ });
      const top = await run('selectTopK', 'topk', selectTopKEngine, {
        experimentId, tableKey: scores.outputs.tableKey, ...config.topK, numClasses: prepared.classNames.length, ratio: config.ratio,
      });
      console.log(JSON.stringify({
        dataset: config.dataset, ratio: config.ratio, seed: config.seed, epochs, selected: top.outputs.items.length,
        precision: top.outputs.precision, recall: top.outputs.recall, biasedValid: biased.outputs.validAccuracy,
        seconds: Math.round((performance.now() - started) / 1000),
      }));
    }
  });
}

runScript(main);
