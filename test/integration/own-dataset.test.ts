import { mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { experimentConfigFrom, sweepConfigFrom } from '../../cli/options';
import { planSweep, submitExperiment, submitSweep } from '../../cli/submit';
import { ConfigError } from '../../core/errors';
import { parseExperimentConfig } from '../../stages/config/schema';
import type { ExperimentResult, FilterCaptionsInput } from '../../stages/contracts';
import { prepareDatasetEngine } from '../../stages/prepare-dataset';
import type { SweepResult } from '../../workflows/sweep';
import { doubleEngines } from '../doubles/engines';
import { startHarness, type Harness } from '../support/harness';
import { writeSyntheticCmnist } from '../support/synthetic-dataset';
import { syntheticItems } from '../support/synthetic-images';

const DIGITS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
const spec = { name: 'mydigits', classNames: DIGITS, classWords: DIGITS.map((d, i) => [d, `#${i}`]), imageSize: 28, arch: 'mlp', paperTraining: { batchSize: 32 } };

const doubles = doubleEngines();
const filterInputs: FilterCaptionsInput[] = [];
let h: Harness;
let root: string;

beforeAll(async () => {
  // A dataset of one's own in the DisEnt layout, with its dataset.json beside the data.
  root = mkdtempSync(join(tmpdir(), 'own-dataset-'));
  await writeSyntheticCmnist(root);
  renameSync(join(root, 'cmnist'), join(root, 'mydigits'));
  writeFileSync(join(root, 'mydigits', 'dataset.json'), JSON.stringify(spec));
  h = await startHarness({
    engines: {
      ...doubles.engines,
      // The product's dataset stage, which reads the spec: the files are listed and checked by it.
      prepareDataset: prepareDatasetEngine,
      filterCaptions: (input, ctx) => {
        filterInputs.push(input);
        return doubles.engines.filterCaptions(input, ctx);
      },
    },
  });
});
afterAll(async () => {
  await h?.close();
});

describe('a dataset described by configuration (DisEnt layout, dataset.json)', () => {
  it('runs an experiment: the spec comes from dataset.json, travels in the config and reaches the stages', async () => {
    const file = join(root, 'experiment.json');
    writeFileSync(file, JSON.stringify({
      dataset: 'mydigits', datasetRoot: root, ratio: 1, train: { epochs: 1 }, topK: { k: 4 }, generate: { images: 4, batchSize: 2 }, filter: { labelCheck: true },
    }));
    const config = await experimentConfigFrom({ config: file });
    expect(config.datasetSpec).toMatchObject({ name: 'mydigits', classWords: spec.classWords, arch: 'mlp' });
    // The spec's training defaults, as a built-in's Table 6 row would give them.
    expect(config.train.batchSize).toBe(32);
    const { workflowId } = await submitExperiment(h.stack.client, config);
    const result = (await h.stack.client.workflow.getHandle(workflowId).result()) as ExperimentResult;
    expect(result.dataset).toBe('mydigits');
    expect(result.accuracy.debiased).toBeDefined();
    // The label check used the spec's words, not a built-in's.
    expect(filterInputs.at(-1)).toMatchObject({ labelCheck: 'mydigits', classWords: spec.classWords });
  }, 120_000);

  it('an ImageFolder dataset without bias labels: prepared with its carved splits; its bias-conflicting count is 0', async () => {
    // The same images as class folders: <root>/pets/train/<class name>/<image>, no valid/ or test/.
    for (const item of await syntheticItems(60, { classes: 10, size: 28, seed: 4 })) {
      const dir = join(root, 'pets', 'train', DIGITS[item.label]!);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, item.location.slice(item.location.lastIndexOf('/') + 1)), await item.load());
    }
    const config = parseExperimentConfig({
      dataset: 'pets', datasetRoot: root, ratio: 1, train: { epochs: 1 }, topK: { k: 2 }, generate: { images: 4, batchSize: 2 },
      datasetSpec: { name: 'pets', classNames: DIGITS, imageSize: 28, arch: 'mlp', layout: 'imagefolder' },
    });
    const { workflowId } = await submitExperiment(h.stack.client, config);
    const result = (await h.stack.client.workflow.getHandle(workflowId).result()) as ExperimentResult;
    expect(result.dataset).toBe('pets');
    const [pointer] = await h.store.list(`runs/${result.experimentId}/prepareDataset/`);
    const { manifestKey } = (await h.store.getJson<{ manifestKey: string }>(pointer!))!;
    const prepared = await h.store.getJson<{ outputs: { counts: { train: number; conflicting: number; valid: number; test: number } } }>(manifestKey);
    expect(prepared?.outputs.counts.conflicting).toBe(0);
    expect(prepared!.outputs.counts.train + prepared!.outputs.counts.valid + prepared!.outputs.counts.test).toBe(60);
  }, 120_000);

  it('a dataset that is neither built in nor described is refused before anything starts, naming where its spec was looked for', async () => {
    await expect(experimentConfigFrom({ dataset: 'nosuch', ratio: '1' } as never)).rejects.toThrow(ConfigError);
    const file = join(root, 'nosuch.json');
    writeFileSync(file, JSON.stringify({ dataset: 'nosuch', datasetRoot: root, ratio: 1 }));
    const refused = await experimentConfigFrom({ config: file }).then(() => undefined, (e: unknown) => e);
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as ConfigError).message).toContain(`dataset: unknown dataset "nosuch"; expected one of cmnist, cmnist-lff, cifar10c, bffhq, bar, dogs_and_cats, or a dataset of your own with ${root}/nosuch/dataset.json`);
    // Without the CLI's lookup, the schema names the field.
    expect(() => parseExperimentConfig({ dataset: 'nosuch', ratio: 1 })).toThrow(ConfigError);
    expect(() => parseExperimentConfig({ dataset: 'cmnist', ratio: 1, datasetSpec: spec })).toThrow(/datasetSpec: cmnist is built in/);
    expect(() => parseExperimentConfig({ dataset: 'other', ratio: 1, datasetSpec: spec })).toThrow(/datasetSpec\.name: "mydigits" is not the config's dataset "other"/);
  });

  it('a sweep over a dataset of your own: specs from dataset.json, prepared by the sweep with its spec, a row in the table', async () => {
    const file = join(root, 'sweep.json');
    writeFileSync(file, JSON.stringify({
      datasets: ['mydigits'], ratios: [1], seeds: [0, 1], parallelism: 2,
      base: { datasetRoot: root, train: { epochs: 1 }, topK: { k: 4 }, generate: { images: 4, batchSize: 2 } },
    }));
    const sweep = await sweepConfigFrom({ config: file });
    expect(sweep.datasetSpecs.mydigits).toMatchObject({ name: 'mydigits', classWords: spec.classWords });
    const plan = planSweep(sweep);
    expect(plan.cells.map((c) => c.input.config.datasetSpec?.name)).toEqual(['mydigits', 'mydigits']);
    const { workflowId } = await submitSweep(h.stack.client, plan);
    const result = (await h.stack.client.workflow.getHandle(workflowId).result()) as SweepResult;
    expect(result.experiments.map((e) => e.status)).toEqual(['completed', 'completed']);
    expect(result.rows.map((r) => [r.dataset, r.ratio, r.seeds])).toEqual([['mydigits', 1, [0, 1]]]);
    // The sweep prepared the dataset itself (with the spec: without it the stage refuses an unknown name).
    const events = (await h.stack.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    expect(events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'prepareDataset')).toHaveLength(1);
    expect(events.filter((e) => e.activityTaskFailedEventAttributes)).toHaveLength(0);
    // `ratios: paper` needs the spec to list them; an unknown name is refused naming its place in the list.
    await expect(sweepConfigFrom({ config: file, ratios: 'paper' })).rejects.toThrow("ratios: paper, but mydigits's spec lists no paperRatios; give the ratios");
    await expect(sweepConfigFrom({ config: file, datasets: 'cmnist,nosuch' })).rejects.toThrow(`datasets.1: unknown dataset "nosuch"`);
  }, 180_000);
});
