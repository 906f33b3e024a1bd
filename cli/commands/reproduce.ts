import { join } from 'node:path';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { Settings } from '../../core/settings';
import { DATASETS, type DatasetName } from '../../datasets/specs';
import { demoConfig } from '../../stages/config/demo';
import { parseExperimentConfig, type ExperimentConfig } from '../../stages/config/schema';
import { sweepMarkdown } from '../../stages/report/sweep-table';
import type { SweepInput, SweepResult } from '../../workflows/sweep';
import { rootCause } from '../progress';
import { followProgress } from '../progress-bars';
import { writeSweepTables } from '../report-files';
import { experimentIdentity, submitSweep, sweepOf } from '../submit';
import { connectClient } from '../connect';
import { untilInterrupted } from '../interrupted';
import { startDev } from './dev';

/** `paper`: the paper's protocol (50 epochs, as many generated images as bias-aligned ones); `demo`: the demo's budget at every ratio. */
export type ReproduceBudget = 'paper' | 'demo';

/**
 * At the paper's budget, which recipe: `paper` = the paper as written (f_B, vanilla and f_D trained
 * as long, f_D from scratch, each taken at its last epoch); `chosen` = what the validation-only
 * ablation of docs/protocol.md ("Choosing the recipe") chose on Colored MNIST 1%.
 */
export type ReproduceRecipe = 'paper' | 'chosen';

/** What the chosen recipe changes in a paper-budget experiment config. */
export const CHOSEN_RECIPE = { train: { biasedEpochs: 2 } } as const;

/**
 * Whose protocol: `ours` (this project's data and [0, 1] inputs: what a user should use) or `peers`
 * (the published baselines' own: LfF's Colored MNIST, their extra division by 255, LfF's MLP, 100
 * epochs, the last kept; docs/protocol.md). `peers` trains vanilla alone: the demo bundles know
 * this project's palette, not LfF's, so DiffuBias itself runs under `ours` only.
 */
export type ReproduceProtocol = 'ours' | 'peers';

/** Per dataset, the build and settings the peers' published vanilla rows were measured with. */
const PEERS_PROTOCOL: Partial<Record<DatasetName, Record<string, unknown> & { dataset: DatasetName }>> = {
  cmnist: { dataset: 'cmnist-lff', vanilla: 'only', train: { epochs: 100 }, classifier: { normalize: 'divide-255', arch: 'mlp' } },
};

export interface ReproduceOptions {
  dataset: DatasetName;
  seeds: readonly number[];
  parallelism: number;
  budget: ReproduceBudget;
  /** Only with the paper budget (the demo's settings are their own). */
  recipe?: ReproduceRecipe;
  /** Absent = `ours`. */
  protocol?: ReproduceProtocol;
}

/** What a cell's config depends on besides dataset, ratio and seed. */
export type ReproductionSettings = Pick<ReproduceOptions, 'budget' | 'recipe' | 'protocol'>;

/**
 * One cell of a reproduction. Top-K: for Colored MNIST, per class with K = 50 x ratio, a little under
 * the expected number of bias-conflicting images per class at every ratio (a fixed K far below it
 * lost to vanilla at 5%); for the other datasets the paper's global top-100.
 */
export function reproductionConfig(dataset: DatasetName, ratio: number, seed: number, { budget, recipe = 'paper', protocol = 'ours' }: ReproductionSettings): ExperimentConfig {
  if (protocol === 'peers') {
    const peers = PEERS_PROTOCOL[dataset];
    if (!peers) throw new Error(`reproduce --protocol peers: defined for ${Object.keys(PEERS_PROTOCOL).join(', ')} (the peers' published baselines), not ${dataset}`);
    if (budget !== 'paper') throw new Error('reproduce --protocol peers: the peers\' protocol is its own budget (100 epochs); use --budget paper');
    return parseExperimentConfig({ ...peers, ratio, seed });
  }
  if (budget === 'demo') {
    if (dataset !== 'cmnist') throw new Error(`reproduce --budget demo: the demo bundles are for Colored MNIST, not ${dataset}`);
    return demoConfig(ratio, seed);
  }
  const topK = dataset === 'cmnist' ? { k: Math.max(5, Math.round(50 * ratio)), mode: 'per-class' } : { k: 100, mode: 'global' };
  return parseExperimentConfig({ dataset, ratio, seed, topK, ...(recipe === 'chosen' ? CHOSEN_RECIPE : {}) });
}

/** The sweep `reproduce` submits: the dataset's ratios from the paper x the seeds. */
export function planReproduction(options: ReproduceOptions): SweepInput {
  const cells: SweepInput['cells'] = [];
  for (const ratio of DATASETS[options.dataset].paperRatios) {
    for (const seed of options.seeds) {
      const { workflowId, ...input } = experimentIdentity(reproductionConfig(options.dataset, ratio, seed, options));
      cells.push({ workflowId, input });
    }
  }
  return sweepOf(cells, options.parallelism);
}

/**
 * `diffubias reproduce <dataset>`: the reproduction sweep on the running stack or a local one, followed to the end
 * (a workflow: interrupted, the same command attaches to it again and finished cells are not redone);
 * writes table.md and table.html under `$DIFFUBIAS_HOME/reports/`.
 */
export async function runReproduce(settings: Settings, options: ReproduceOptions, log: (line: string) => void, out: (text: string) => void): Promise<number> {
  const started = Date.now();
  const plan = planReproduction(options);
  const stack = await stackFor(settings, log);
  try {
    const { workflowId, state } = await submitSweep(stack.client, plan);
    log(`reproduction ${workflowId}: ${options.dataset}, ratios ${DATASETS[options.dataset].paperRatios.join('/')}%, seeds ${options.seeds.join(',')}, ${describeSettings(options)}, ${plan.parallelism} at a time (${state})`);
    const interrupted = untilInterrupted().then(() => 'interrupted' as const);
    if (await Promise.race([followProgress(stack.client, workflowId, log, 5000), interrupted]) === 'interrupted') {
      log(`interrupted: ${workflowId} stays in Temporal; the same command attaches to it again, and finished cells are not redone`);
      return 130;
    }
    let result: SweepResult;
    try {
      result = (await stack.client.workflow.getHandle(workflowId).result()) as SweepResult;
    } catch (err) {
      if (!(err instanceof WorkflowFailedError)) throw err;
      log(`reproduction failed: ${rootCause(err)}`);
      return 3;
    }
    const seconds = (Date.now() - started) / 1000;
    const files = await writeSweepTables(result, join(settings.home, 'reports', `reproduce-${options.dataset}-${settingsSlug(options)}-${plan.sweepId}`));
    out(sweepMarkdown(result));
    log(`wall time of this command ${seconds.toFixed(0)} s (cells finished by an earlier run are not redone)`);
    log(`table: ${files.md}`);
    log(`table: ${files.html}`);
    return 0;
  } finally {
    await stack.stop();
  }
}

/**
 * The stack the sweep runs on: one already serving at TEMPORAL_ADDRESS (`diffubias dev`, another
 * `reproduce`, a cluster), whose workers then run the cells; else the local stack, started here.
 */
async function stackFor(settings: Settings, log: (line: string) => void): Promise<{ client: Client; stop(): Promise<void> }> {
  try {
    const running = await connectClient(settings);
    await running.client.workflowService.getSystemInfo({});
    log(`using the Temporal already serving at ${settings.temporal.address}: its workers run the cells`);
    return { client: running.client, stop: running.close };
  } catch {
    const dev = await startDev(settings, log, { quiet: true });
    return { client: dev.stack.client, stop: dev.stop };
  }
}

/** The settings in words, for the log. */
function describeSettings(o: ReproductionSettings): string {
  if (o.protocol === 'peers') return "the peers' protocol (vanilla alone)";
  return `${o.budget} budget${o.budget === 'paper' ? `, ${o.recipe ?? 'paper'} recipe` : ''}`;
}

/** The settings in a folder name: `paper-chosen`, `paper-paper`, `demo`, `peers`. */
function settingsSlug(o: ReproductionSettings): string {
  if (o.protocol === 'peers') return 'peers';
  return `${o.budget}${o.budget === 'paper' ? `-${o.recipe ?? 'paper'}` : ''}`;
}
