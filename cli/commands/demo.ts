import { WorkflowFailedError } from '@temporalio/client';
import { parseExperimentConfig } from '../../lib/config/schema';
import type { ExperimentResult } from '../../lib/pipeline';
import type { Settings } from '../../lib/settings';
import { followProgress, rootCause } from '../progress';
import { submitExperiment } from '../submit';
import { startDev, UI_PORT } from './dev';

/**
 * `npm run demo`: the local stack plus one Colored MNIST experiment, followed to the end. Stages
 * whose engine has not landed fail the run with a message naming them; nothing is faked.
 */
export async function runDemo(settings: Settings, options: { ratio: number; seed: number }, log: (line: string) => void): Promise<number> {
  const started = Date.now();
  const config = parseExperimentConfig({ dataset: 'cmnist', ratio: options.ratio, seed: options.seed });
  const dev = await startDev(settings, log);
  try {
    const { workflowId, state } = await submitExperiment(dev.stack.client, config);
    const { runId } = await dev.stack.client.workflow.getHandle(workflowId).describe();
    log(`experiment ${workflowId} (${state})`);
    log(`Web UI: http://localhost:${UI_PORT}/namespaces/${settings.temporal.namespace}/workflows/${encodeURIComponent(workflowId)}/${runId}/history`);
    await followProgress(dev.stack.client, workflowId, log);
    try {
      const result = (await dev.stack.client.workflow.getHandle(workflowId).result()) as ExperimentResult;
      log(JSON.stringify(result.accuracy, null, 2));
      log(`results: ${result.reportKey}`);
      return 0;
    } catch (err) {
      if (!(err instanceof WorkflowFailedError)) throw err;
      log(`demo incomplete: ${rootCause(err)}`);
      return 3;
    }
  } finally {
    log(`wall time ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await dev.stop();
  }
}
