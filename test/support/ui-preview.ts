/**
 * Not a test: `npx tsx test/support/ui-preview.ts` starts a dev stack with a Web UI on :8234 and runs
 * one experiment on the test-double engines, to look at a whole DAG in the UI before the real
 * engines land. Ctrl-C stops it.
 */
import { createActivities } from '../../activities';
import { startDevStack } from '../../cli/stack/dev-stack';
import { experimentIdentity, submitExperiment } from '../../cli/submit';
import { ArtifactStore } from '../../core/store';
import { parseExperimentConfig } from '../../stages/config/schema';
import { createWorkers, runWorkers } from '../../workers/create-workers';
import { QUEUE_NAMES } from '../../stages/activity-table';
import { doubleEngines } from '../doubles/engines';

async function main() {
  const stack = await startDevStack({ port: 7234, uiPort: 8234, s3Port: 0 });
  const store = new ArtifactStore({ endpoint: stack.s3!.endpoint, region: 'us-east-1', bucket: 'preview', prefix: '', credentials: stack.s3!.credentials });
  await store.ensureBucket();
  const workers = await createWorkers({
    connection: stack.nativeConnection, namespace: 'default', queues: QUEUE_NAMES,
    activities: createActivities({ store, engines: doubleEngines({ captionDelayMs: 200 }).engines }),
  });
  void runWorkers(workers);
  const config = parseExperimentConfig({ dataset: 'cmnist', ratio: 1, seed: 0, train: { epochs: 3 }, topK: { k: 6 }, generate: { images: 8, batchSize: 4 } });
  await submitExperiment(stack.client, config);
  await stack.client.workflow.getHandle(experimentIdentity(config).workflowId).result();
  console.log(`done: http://localhost:8234/namespaces/default/workflows/${encodeURIComponent(experimentIdentity(config).workflowId)}`);
}
main().catch((e) => { console.error(e); process.exit(1); });
