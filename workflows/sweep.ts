/**
 * A sweep (paper Table 3): one child experiment per (dataset, ratio, seed), a bounded number at a
 * time, then mean ± std per (dataset, ratio) beside the paper's numbers.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ApplicationFailure, isCancellation, sleep, upsertSearchAttributes, WorkflowIdReusePolicy } from '@temporalio/workflow';
import type { ExperimentInput, ExperimentResult } from '../stages/contracts';
import { aggregateSweep, type SweepRow } from '../stages/report/sweep-aggregate';
import { sweepResultsKey } from '../stages/report/result-keys';
import { TASK_QUEUES } from '../stages/activity-table';
import { callActivity } from './call-activity';
import { datasetRefOf } from './dataset-ref';
import { installControl } from './control';
import { queuedExperimentAttributes, SEARCH_ATTRIBUTES } from './definitions';
import { slidingWindow } from './sliding-window';

export interface SweepCell {
  workflowId: string;
  input: ExperimentInput;
}
export interface SweepInput {
  sweepId: string;
  cells: SweepCell[];
  parallelism: number;
}
export interface SweepResult {
  sweepId: string;
  rows: SweepRow[];
  experiments: { workflowId: string; status: 'completed' | 'failed'; error?: string }[];
  reportKey: string;
}

/** Seconds between tries to start a cell that is running elsewhere: 5, 10, 20 ... 60. */
const RUNNING_CELL_WAITS_S = { first: 5, max: 60 };


export async function sweep(input: SweepInput): Promise<SweepResult> {
  const control = installControl();
  control.progress.stage = 'experiments';
  control.progress.total = input.cells.length;
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: 'experiments' }]);

  const results: ExperimentResult[] = [];
  const outcomes: SweepResult['experiments'] = [];
  const runCell = async (i: number) => {
    const cell = input.cells[i]!;
    const { config } = cell.input;
    const start = () => control.runChild<ExperimentResult>(
      'experiment',
      {
        workflowId: cell.workflowId,
        taskQueue: TASK_QUEUES.workflow,
        // A cell that already ran (alone, or in another sweep) runs again from its stored stages,
        // which are all reused: seconds, where it used to fail the cell as "already started".
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        typedSearchAttributes: queuedExperimentAttributes(config),
        staticSummary: `${config.dataset} ${config.ratio}% seed ${config.seed} (sweep ${input.sweepId})`,
      },
      () => [cell.input],
    );
    try {
      let result: ExperimentResult | undefined;
      for (let wait = RUNNING_CELL_WAITS_S.first; result === undefined; wait = Math.min(wait * 2, RUNNING_CELL_WAITS_S.max)) {
        try {
          result = await start();
        } catch (err) {
          // The same experiment running on its own (or in another sweep): a second execution would
          // compute it twice. Wait for that one to finish, then run the cell from its stored stages.
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          await sleep(`${wait}s`);
        }
      }
      results.push(result);
      outcomes.push({ workflowId: cell.workflowId, status: 'completed' });
    } catch (err) {
      if (isCancellation(err)) throw err;
      outcomes.push({ workflowId: cell.workflowId, status: 'failed', error: describe(err) });
    }
    control.progress.done += 1;
  };
  try {
    control.progress.stage = 'prepareDataset';
    await prepareDatasets(input.cells);
    control.progress.stage = 'experiments';
    await slidingWindow(input.cells.length, input.parallelism, () => control.whenRunning(), runCell);

    control.progress.stagesDone.push('experiments');
    control.progress.stage = 'aggregate';
    const reportKey = sweepResultsKey(input.sweepId);
    const order = new Map(input.cells.map((c, i) => [c.workflowId, i]));
    outcomes.sort((a, b) => order.get(a.workflowId)! - order.get(b.workflowId)!);
    const summary: SweepResult = { sweepId: input.sweepId, rows: aggregateSweep(results), experiments: outcomes, reportKey };
    await callActivity('writeReport', `store sweep results (${results.length}/${input.cells.length} experiments)`, { key: reportKey, report: summary });
    control.progress.stage = 'done';
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: 'done' }]);
    if (results.length === 0) {
      throw ApplicationFailure.create({ message: `every experiment of the sweep failed; first: ${outcomes[0]?.error}`, nonRetryable: true });
    }
    return summary;
  } catch (err) {
    const stage = isCancellation(err) ? 'cancelled' : 'failed';
    control.progress.stage = stage;
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: stage }]);
    throw err;
  }
}

/**
 * Each (dataset, ratio, root) of the sweep prepared once, before any cell runs: cells started
 * together would otherwise each build the same missing Colored MNIST (70,000 images) at once. The
 * first cell of each is the one it is prepared for; a failure is left for the cells to report.
 */
async function prepareDatasets(cells: readonly SweepCell[]): Promise<void> {
  const first = new Map<string, ExperimentInput>();
  for (const { input } of cells) {
    const key = JSON.stringify([input.config.dataset, input.config.ratio, input.config.datasetRoot]);
    if (!first.has(key)) first.set(key, input);
  }
  await Promise.all([...first.values()].map(({ experimentId, config }) =>
    callActivity('prepareDataset', `prepare ${config.dataset} at ${config.ratio}% conflicting for the sweep's cells`, {
      experimentId, dataset: datasetRefOf(config),
    }).catch((err: unknown) => {
      if (isCancellation(err)) throw err;
    })));
}

function describe(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  // Child failures wrap the activity failure that caused them: report the innermost message.
  while (e?.cause) e = e.cause as typeof e;
  return e?.message ?? String(err);
}
