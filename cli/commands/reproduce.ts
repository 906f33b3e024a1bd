import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
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

export interface ReproduceOptions {
  dataset: DatasetName;
  seeds: readonly number[];
  parallelism: number;
  budget: ReproduceBudget;
  /** Only with the paper budget (the demo's settings are their own). */
  recipe?: ReproduceRecipe;
}

/**
 * One cell of a reproduction. Top-K: for Colored MNIST, per class with K = 50 x ratio, a little under
 * the expected number of bias-conflicting images per class at every ratio (a fixed K far below it
 * lost to vanilla at 5%); for the other datasets the paper's global top-100.
 */
export function reproductionConfig(dataset: DatasetName, ratio: number, seed: number, budget: ReproduceBudget, recipe: ReproduceRecipe = 'paper'): ExperimentConfig {
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
      const { workflowId, ...input } = experimentIdentity(reproductionConfig(options.dataset, ratio, seed, options.budget, options.recipe));
      cells.push({ workflowId, input });
    }
  }
  return sweepOf(cells, options.parallelism);
}

/**
 * `diffubias reproduce <dataset>`: the local stack plus the reproduction sweep, followed to the end
 * (a workflow: interrupted, the same command attaches to it again and finished cells are not redone);
 * writes table.md and table.html under `$DIFFUBIAS_HOME/reports/`.
 */
export async function runReproduce(settings: Settings, options: ReproduceOptions, log: (line: string) => void, out: (text: string) => void): Promise<number> {
  const started = Date.now();
  const plan = planReproduction(options);
  const dev = await startDev(settings, log, { quiet: true });
  try {
    const { workflowId, state } = await submitSweep(dev.stack.client, plan);
    log(`reproduction ${workflowId}: ${options.dataset}, ratios ${DATASETS[options.dataset].paperRatios.join('/')}%, seeds ${options.seeds.join(',')}, ${options.budget} budget${options.budget === 'paper' ? `, ${options.recipe ?? 'paper'} recipe` : ''}, ${plan.parallelism} at a time (${state})`);
    await followProgress(dev.stack.client, workflowId, log, 5000);
    let result: SweepResult;
    try {
      result = (await dev.stack.client.workflow.getHandle(workflowId).result()) as SweepResult;
    } catch (err) {
      if (!(err instanceof WorkflowFailedError)) throw err;
      log(`reproduction failed: ${rootCause(err)}`);
      return 3;
    }
    const seconds = (Date.now() - started) / 1000;
    const files = await writeSweepTables(result, join(settings.home, 'reports', `reproduce-${options.dataset}-${options.budget}${options.budget === 'paper' ? `-${options.recipe ?? 'paper'}` : ''}-${plan.sweepId}`));
    out(sweepMarkdown(result));
    log(`wall time of this command ${seconds.toFixed(0)} s (cells finished by an earlier run are not redone)`);
    log(`table: ${files.md}`);
    log(`table: ${files.html}`);
    return 0;
  } finally {
    await dev.stop();
  }
}
