/**
 * The product's stage engines run in this process, each as a cached stage unit, against an embedded
 * S3 of the scripts' own (.diffubias/s3-baseline), or a store the script names (one that holds an
 * experiment's outputs): what the measurement scripts beside this file share. Not the durable path:
 * a script that outgrows one sitting belongs in a workflow.
 */
import { join } from 'node:path';
import { startEmbeddedS3 } from '../cli/stack/s3-server';
import { ArtifactStore } from '../core/store';
import { runStageUnit, type StageResult } from '../stages/runner/stage-runner';
import { prepareDatasetEngine } from '../stages/prepare-dataset';
import { STAGE_VERSIONS } from '../stages/activity-table';
import type { StageEngine } from '../stages/context';
import type { DatasetRef, PrepareDatasetOutput } from '../stages/contracts';
import type { ExperimentConfig } from '../stages/config/schema';

export interface StageHarness {
  run<I extends object, O>(stage: keyof typeof STAGE_VERSIONS, unit: string, engine: StageEngine<I, O>, inputs: I): Promise<StageResult<O>>;
  /** The experiment's dataset, built if missing, with its content id. */
  prepare(config: ExperimentConfig): Promise<{ data: DatasetRef; prepared: PrepareDatasetOutput }>;
}

export async function withStageHarness<T>(experimentId: string, body: (h: StageHarness) => Promise<T>, given?: ArtifactStore): Promise<T> {
  const s3 = given ? undefined : await startEmbeddedS3({ directory: join(process.cwd(), '.diffubias', 's3-baseline'), bucket: 'diffubias' });
  const store = given ?? new ArtifactStore({ endpoint: s3!.endpoint, region: 'us-east-1', bucket: 'diffubias', prefix: '', credentials: s3!.credentials });
  const harness: StageHarness = {
    run: (stage, unit, engine, inputs) =>
      // The stages' log lines (an epoch each) go to stderr: stdout is the scripts' JSON.
      runStageUnit(store, { experimentId, stage, version: STAGE_VERSIONS[stage], unit, inputs }, { progress() {}, log: (line) => console.error(line) }, (ctx) => engine(inputs, ctx)),
    async prepare(config) {
      const ref: DatasetRef = { name: config.dataset, ratio: config.ratio, seed: config.seed, root: join(process.cwd(), config.datasetRoot) };
      const prepared = await harness.run('prepareDataset', 'dataset', prepareDatasetEngine, { experimentId, dataset: ref });
      return { data: { ...ref, contentId: prepared.outputs.contentId }, prepared: prepared.outputs };
    },
  };
  try {
    return await body(harness);
  } finally {
    if (s3) {
      store.destroy();
      await s3.close();
    }
  }
}

export function runScript(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
