/**
 * f_D retrained exactly as its experiment trained it (its config: epochs, batch, learning rate, seed
 * stream, validation split), on the experiment's generated images alone (`--alone`: what the set
 * carries on its own) or on a share of them (`--batches K`: the first K generateBatch units), through
 * the product's trainClassifier engine as a cached stage unit in the home's store, where the
 * experiment's images are. Reads the validation split only, never test. Prints one JSON line: the
 * retrained model's validation accuracy (best epoch and last), beside the experiment's own vanilla
 * and f_D curves on the same split. It made docs/results.md's "What the generated set carries".
 *
 *   npx tsx scripts/retrain-debiased.ts <experiment id> [--alone] [--batches K]
 *   npx tsx scripts/retrain-debiased.ts cmnist/5/0/a7b414427cf7 --alone    (a finished experiment's results.json)
 */
import { parseArgs } from 'node:util';
import { withStore } from '../cli/stored-results';
import { settingsFromEnv } from '../core/settings';
import { trainClassifierEngine } from '../stages/classifier-stages';
import { configAsRun } from '../stages/config/as-run';
import { roleTraining } from '../stages/config/role-training';
import { parseExperimentConfig } from '../stages/config/schema';
import type { ExperimentResult } from '../stages/contracts';
import { experimentResultsKey } from '../stages/report/result-keys';
import { runScript, withStageHarness } from './stage-harness';

/** The best epoch (1-based) and the last of a validation curve. */
function curveSummary(curve: readonly number[] | undefined): { best: number; bestEpoch: number; last: number } | null {
  if (!curve?.length) return null;
  const best = Math.max(...curve);
  return { best, bestEpoch: curve.indexOf(best) + 1, last: curve[curve.length - 1]! };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { alone: { type: 'boolean', default: false }, batches: { type: 'string' } } });
  const [experimentId] = positionals;
  if (experimentId === undefined) throw new Error('usage: retrain-debiased.ts <experiment id> [--alone] [--batches K]');
  const batches = values.batches === undefined ? undefined : Number(values.batches);
  if (batches !== undefined && !(Number.isInteger(batches) && batches > 0)) throw new Error(`--batches: expected a positive whole number, got ${values.batches}`);
  await withStore(settingsFromEnv(), async (store) => {
    const key = experimentResultsKey(experimentId);
    const stored = await store.getJson<ExperimentResult & { config?: unknown }>(key);
    if (!stored) throw new Error(`${store.uri(key)}: no results.json (is the experiment finished, and DIFFUBIAS_HOME its home?)`);
    const all = stored.artifacts?.generatedManifests;
    if (!all?.length) throw new Error(`${store.uri(key)}: the experiment generated no images`);
    if (batches !== undefined && batches > all.length) throw new Error(`--batches ${batches}: the experiment has ${all.length} generateBatch units`);
    const manifests = all.slice(0, batches);
    const variant = `${values.alone ? 'alone' : 'with-originals'}-${manifests.length}-of-${all.length}`;
    const config = configAsRun(parseExperimentConfig(stored.config, store.uri(key)));
    const started = performance.now();
    await withStageHarness(`retrain-debiased/${experimentId}`, async ({ run, prepare }) => {
      const { data } = await prepare(config);
      const biased = stored.artifacts?.models.biased;
      const trained = await run('trainClassifier', variant, trainClassifierEngine, {
        experimentId: `retrain-debiased/${experimentId}`, role: 'debiased', loss: 'ce', dataset: data, train: roleTraining(config.train, 'debiased'),
        classifier: config.classifier, seed: config.seed, selection: config.selection.classifiers, valid: config.selection.valid,
        extraManifests: manifests, extraRepeat: config.generate.repeat, ...(values.alone ? { extraOnly: true } : {}),
        ...(config.train.debiasedInit === 'biased' && biased ? { initModelKey: biased } : {}),
      });
      const out = trained.outputs;
      console.log(JSON.stringify({
        experimentId, dataset: config.dataset, ratio: config.ratio, seed: config.seed, variant, trainImages: out.trainImages, epochs: out.validCurve.length,
        validation: out.protocol.valid,
        retrained: curveSummary(out.validCurve),
        experiment: { vanilla: curveSummary(stored.training?.vanilla?.validCurve), debiased: curveSummary(stored.training?.debiased?.validCurve) },
        cached: trained.cached, seconds: Math.round((performance.now() - started) / 1000),
      }));
    }, store);
  });
}

runScript(main);
