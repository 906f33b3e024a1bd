/**
 * A finished run's results as its writeReport step stored them, read from the artifact store alone:
 * `report` works with Temporal down.
 */
import { join } from 'node:path';
import { ArtifactStore } from '../core/store';
import type { Settings } from '../core/settings';
import type { ExperimentResult } from '../stages/contracts';
import type { SweepResult } from '../workflows/sweep';
import { startEmbeddedS3 } from './stack/s3-server';
import { experimentResultsKey, sweepResultsKey } from '../stages/report/result-keys';

export type StoredResults = { kind: 'experiment'; result: ExperimentResult } | { kind: 'sweep'; result: SweepResult };

/** Where a workflow's results are stored: its writeReport key. */
export function resultsKey(workflowId: string): { kind: StoredResults['kind']; key: string } {
  const sweep = /^diffubias-sweep\/(.+)$/.exec(workflowId);
  if (sweep) return { kind: 'sweep', key: sweepResultsKey(sweep[1]!) };
  const experimentId = workflowId.replace(/^diffubias\//, '');
  return { kind: 'experiment', key: experimentResultsKey(experimentId) };
}

/**
 * Runs `fn` with a store for `settings`. The embedded store is read through a private server over
 * the configured home's folder, whether or not `diffubias dev` serves one: the endpoint is the same
 * for every home, the folder is not (reads beside a running server are safe).
 */
export async function withStore<T>(settings: Settings, fn: (store: ArtifactStore) => Promise<T>): Promise<T> {
  let close: (() => Promise<void>) | undefined;
  let s3 = settings.s3;
  if (settings.embeddedS3) {
    const server = await startEmbeddedS3({ directory: join(settings.home, 's3'), bucket: settings.s3.bucket });
    close = server.close;
    s3 = { ...settings.s3, endpoint: server.endpoint, credentials: server.credentials };
  }
  const store = new ArtifactStore(s3);
  try {
    return await fn(store);
  } finally {
    store.destroy();
    await close?.();
  }
}

export async function readStoredResults(store: ArtifactStore, workflowId: string): Promise<StoredResults | undefined> {
  const { kind, key } = resultsKey(workflowId);
  const result = await store.getJson<ExperimentResult & SweepResult>(key);
  if (!result) return undefined;
  return kind === 'sweep' ? { kind, result } : { kind, result };
}
