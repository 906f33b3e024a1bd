/**
 * measureDiversity's baseline: the experiment's real training images, measured as the stage
 * measures its generated ones (the same shapes, the same number per class, sampled the same way),
 * beside what the stage stored. Reads the training split only. Prints one JSON line per class and
 * one for the whole. It made docs/results.md's "How varied the generated set is".
 *
 *   npx tsx scripts/diversity-baseline.ts <experiment id>
 *   npx tsx scripts/diversity-baseline.ts cmnist/1/0/e4cf868e0deb    (a finished experiment's results.json)
 */
import { withStore } from '../cli/stored-results';
import { settingsFromEnv } from '../core/settings';
import { readArtifact } from '../stages/artifacts';
import { configAsRun } from '../stages/config/as-run';
import { parseExperimentConfig } from '../stages/config/schema';
import type { ExperimentResult } from '../stages/contracts';
import { splitReader } from '../stages/dataset-access';
import { classDiversity, DIVERSITY, sampleOf, shapesOf, type ClassDiversity } from '../stages/measure-diversity';
import { experimentResultsKey } from '../stages/report/result-keys';
import { datasetRefOf } from '../workflows/dataset-ref';
import { runScript } from './stage-harness';

async function main(): Promise<void> {
  const [experimentId] = process.argv.slice(2);
  if (experimentId === undefined) throw new Error('usage: diversity-baseline.ts <experiment id>');
  await withStore(settingsFromEnv(), async (store) => {
    const key = experimentResultsKey(experimentId);
    const stored = await store.getJson<ExperimentResult & { config?: unknown }>(key);
    if (!stored) throw new Error(`${store.uri(key)}: no results.json (is the experiment finished, and DIFFUBIAS_HOME its home?)`);
    const measured = stored.sideStages?.measureDiversity;
    if (!measured) throw new Error(`${store.uri(key)}: no measureDiversity output (an experiment from before the side stage, or one that generated nothing)`);
    const generated = await readArtifact(store, DIVERSITY, measured.diversityKey);
    const config = configAsRun(parseExperimentConfig(stored.config, store.uri(key)));
    const train = await splitReader(datasetRefOf(config), 'train', store.settings);
    type Row = { label: number; sampled: number; generated: Pick<ClassDiversity, 'meanDistance' | 'nearDuplicates'>; real: Pick<ClassDiversity, 'meanDistance' | 'nearDuplicates'> };
    const rows: Row[] = [];
    for (const g of generated.perClass) {
      const real = train.items.filter((item) => item.label === g.label);
      // As many real images as the stage measured of this class, drawn with the experiment's seed.
      const sample = sampleOf(real, g.sampled, config.seed, g.label);
      const r = classDiversity(await shapesOf(sample));
      const row: Row = { label: g.label, sampled: sample.length, generated: { meanDistance: g.meanDistance, nearDuplicates: g.nearDuplicates }, real: r };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
    const mean = (pick: (row: Row) => number | null) => {
      const values = rows.map(pick).filter((v): v is number => v !== null);
      return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
    };
    console.log(JSON.stringify({
      experimentId, dataset: config.dataset, ratio: config.ratio, seed: config.seed, classes: rows.length,
      meanOverClasses: {
        generated: { meanDistance: mean((r) => r.generated.meanDistance), nearDuplicates: mean((r) => r.generated.nearDuplicates) },
        real: { meanDistance: mean((r) => r.real.meanDistance), nearDuplicates: mean((r) => r.real.nearDuplicates) },
      },
    }));
  });
}

runScript(main);
