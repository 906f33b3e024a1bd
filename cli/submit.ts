import {
  WorkflowExecutionAlreadyStartedError, WorkflowIdConflictPolicy, WorkflowIdReusePolicy, type Client,
} from '@temporalio/client';
import { hashOf } from '../stages/config/canonical-hash';
import { parseExperimentConfig, sweepCell, sweepRatios, type ExperimentConfig, type SweepConfig } from '../stages/config/schema';
import type { ExperimentInput } from '../stages/contracts';
import { TASK_QUEUES } from '../stages/activity-table';
import { STAGE_VERSIONS } from '../stages/activity-table';
import { queuedExperimentAttributes, SEARCH_ATTRIBUTES } from '../workflows/definitions';
import type { SweepInput } from '../workflows/sweep';

/**
 * Ids are derived from the config and the stages' code versions, so the same experiment submitted twice
 * is one workflow, and the same config submitted after a stage's computation changed is a new one (which
 * reuses every stage that did not change). The hash leaves out dataset, ratio and seed (they are in the
 * id already): all cells of a sweep share it.
 */
export function experimentIdentity(config: ExperimentConfig): ExperimentInput & { workflowId: string } {
  const { dataset, ratio, seed, ...method } = config;
  const configHash = hashOf({ ...method, stageVersions: STAGE_VERSIONS });
  const experimentId = `${dataset}/${ratio}/${seed}/${configHash}`;
  return { experimentId, workflowId: `diffubias/${experimentId}`, config, configHash };
}

export interface Submitted {
  workflowId: string;
  /** started = new execution; running = attached to the one already running; completed = finished earlier. */
  state: 'started' | 'running' | 'completed';
}

async function currentState(client: Client, workflowId: string): Promise<string | undefined> {
  try {
    return (await client.workflow.getHandle(workflowId).describe()).status.name;
  } catch {
    return undefined;
  }
}

export async function submitExperiment(client: Client, config: ExperimentConfig): Promise<Submitted> {
  const identity = experimentIdentity(config);
  const before = await currentState(client, identity.workflowId);
  try {
    await client.workflow.start('experiment', {
      workflowId: identity.workflowId,
      taskQueue: TASK_QUEUES.workflow,
      args: [{ experimentId: identity.experimentId, config, configHash: identity.configHash } satisfies ExperimentInput],
      // Running: attach instead of duplicating. Finished: only a failed or cancelled run is redone.
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      typedSearchAttributes: queuedExperimentAttributes(config),
      staticSummary: `DiffuBias ${config.dataset} ${config.ratio}% seed ${config.seed} (config ${identity.configHash})`,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { workflowId: identity.workflowId, state: 'completed' };
    throw err;
  }
  return { workflowId: identity.workflowId, state: before === 'RUNNING' ? 'running' : 'started' };
}

/** Expands a sweep into its cells (validated experiment configs with their ids). */
export function planSweep(sweep: SweepConfig): SweepInput {
  const cells: SweepInput['cells'] = [];
  for (const dataset of sweep.datasets) {
    for (const ratio of sweepRatios(sweep, dataset)) {
      for (const seed of sweep.seeds) {
        const config = parseExperimentConfig(sweepCell(sweep, dataset, ratio, seed));
        const { workflowId, ...input } = experimentIdentity(config);
        cells.push({ workflowId, input });
      }
    }
  }
  return sweepOf(cells, sweep.parallelism);
}

/** A sweep of given cells; its id is the hash of their workflow ids, so the same cells are the same sweep. */
export function sweepOf(cells: SweepInput['cells'], parallelism: number): SweepInput {
  return { sweepId: hashOf(cells.map((c) => c.workflowId)), cells, parallelism };
}

export function sweepWorkflowId(plan: SweepInput): string {
  return `diffubias-sweep/${plan.sweepId}`;
}

export async function submitSweep(client: Client, plan: SweepInput): Promise<Submitted> {
  const workflowId = sweepWorkflowId(plan);
  const before = await currentState(client, workflowId);
  try {
    await client.workflow.start('sweep', {
      workflowId,
      taskQueue: TASK_QUEUES.workflow,
      args: [plan],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      typedSearchAttributes: [{ key: SEARCH_ATTRIBUTES.stage, value: 'queued' }],
      staticSummary: `DiffuBias sweep of ${plan.cells.length} experiments, ${plan.parallelism} at a time`,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { workflowId, state: 'completed' };
    throw err;
  }
  return { workflowId, state: before === 'RUNNING' ? 'running' : 'started' };
}
