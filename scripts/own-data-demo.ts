/**
 * The demo pipeline on one's own data: Colored MNIST at a ratio as built, and the same images
 * exported to the metadata-CSV layout (bias labels kept) and to the ImageFolder layout (bias labels
 * dropped), each run with the demo's config and the product's engines on an in-process stack (its
 * own Temporal and S3, so nothing touches `.diffubias/`). Prints each run's test accuracies: the CSV
 * copy reads the same images in the same order as the original, so its numbers should be the
 * original's; the ImageFolder copy has no bias labels, so its subsets are n/a and its per-class and
 * worst-class accuracies are what it reports.
 *
 * Each run's results.json and report.html go to `<out>/reports/<dataset>/`.
 *
 *   npx tsx scripts/own-data-demo.ts [--root .diffubias/datasets] [--ratio 1] [--seed 0] [--out <dir>]
 *       [--datasets cmnist,cmnist-csv,cmnist-imagefolder]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createActivities } from '../activities';
import { startDevStack } from '../cli/stack/dev-stack';
import { writeReportFiles } from '../cli/report-files';
import { submitExperiment } from '../cli/submit';
import { withDataSource } from '../core/data-source';
import { ArtifactStore } from '../core/store';
import { exportDataset } from '../datasets/export';
import { resolveDatasetSpec } from '../datasets/spec-schema';
import { DATASETS } from '../datasets/specs';
import { QUEUE_NAMES } from '../stages/activity-table';
import { demoConfig } from '../stages/config/demo';
import type { ExperimentResult } from '../stages/contracts';
import { productEngines } from '../stages/product-stages';
import { createWorkers, runWorkers } from '../workers/create-workers';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

void (async () => {
  const root = resolve(flag('root', '.diffubias/datasets'));
  const ratio = Number(flag('ratio', '1'));
  const seed = Number(flag('seed', '0'));
  const out = resolve(flag('out', mkdtempSync(join(tmpdir(), 'own-data-'))));
  await withDataSource(root, undefined, async (source) => {
    for (const layout of ['csv', 'imagefolder'] as const) {
      const s = await exportDataset(source, DATASETS.cmnist, ratio, { out, name: `cmnist-${layout}`, layout });
      console.log(`exported ${s.dir}: ${s.images.train} train, ${s.images.valid} valid, ${s.images.test} test`);
    }
  });

  const stack = await startDevStack({ s3Port: 0 });
  const store = new ArtifactStore({ endpoint: stack.s3!.endpoint, region: 'us-east-1', bucket: 'own-data', prefix: '', credentials: stack.s3!.credentials });
  await store.ensureBucket();
  const workers = await createWorkers({ connection: stack.nativeConnection, namespace: 'default', queues: QUEUE_NAMES, activities: createActivities({ store, engines: productEngines() }) });
  const running = runWorkers(workers);
  try {
    const wanted = flag('datasets', 'cmnist,cmnist-csv,cmnist-imagefolder').split(',');
    const runs = wanted.map((dataset) => [dataset, dataset === 'cmnist' ? root : out] as const);
    for (const [dataset, datasetRoot] of runs) {
      const datasetSpec = dataset === 'cmnist' ? undefined : await resolveDatasetSpec(dataset, datasetRoot, undefined);
      const config = demoConfig(ratio, seed, { dataset, datasetRoot, ...(datasetSpec ? { datasetSpec } : {}) });
      const started = Date.now();
      const { workflowId } = await submitExperiment(stack.client, config);
      const result = (await stack.client.workflow.getHandle(workflowId).result()) as ExperimentResult;
      const files = await writeReportFiles(store, result, join(out, 'reports', dataset));
      const fmt = (v: number | undefined | null) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(2) : 'n/a');
      console.log(`\n${dataset} (${((Date.now() - started) / 1000).toFixed(0)} s), top-K precision ${fmt(result.topK?.precision === null || result.topK?.precision === undefined ? null : 100 * result.topK.precision)}`);
      console.log('model        unbiased  aligned  conflicting  worst class  per class');
      for (const role of ['vanilla', 'biased', 'debiased'] as const) {
        const a = result.accuracy[role];
        if (a) console.log(`${role.padEnd(12)} ${fmt(a.unbiased).padStart(8)} ${fmt(a.aligned).padStart(8)} ${fmt(a.conflicting).padStart(12)} ${fmt(a.worstClass).padStart(12)}  ${(a.perClass ?? []).map(fmt).join(' ')}`);
      }
      console.log(`report: ${files.html}`);
    }
  } finally {
    for (const w of workers) w.shutdown();
    await running;
    store.destroy();
    await stack.close();
  }
})();
