import { ArtifactStore } from '../../core/store';
import { ConfigError } from '../../core/errors';
import type { Settings } from '../../core/settings';
import { parseS3Uri } from '../../core/s3-uri';
import { withDataSource } from '../../core/data-source';
import { checkDataset, describeCheck } from '../../datasets/check';
import { resolveDatasetSpec } from '../../datasets/spec-schema';

export interface DatasetBuildOptions {
  out: string;
  ratios: number[];
  seed: number;
  /** cmnist-lff only: LfF's colour-noise severity (1-5). */
  severity?: number;
}

/** `diffubias dataset build cmnist|cmnist-lff`: a Colored MNIST from the MNIST files npm ships, in the DisEnt layout. */
export async function buildDataset(name: string, options: DatasetBuildOptions, settings: Settings, log: (line: string) => void): Promise<void> {
  const { buildColoredMnist, isColoredMnist } = require('../../datasets/cmnist/build') as typeof import('../../datasets/cmnist/build');
  if (!isColoredMnist(name)) {
    throw new ConfigError([`dataset: only cmnist and cmnist-lff can be built here; ${name} must be downloaded and laid out in the DisEnt layout (see the README)`]);
  }
  if (options.severity !== undefined && name !== 'cmnist-lff') throw new ConfigError([`severity: LfF's colour noise, for cmnist-lff only`]);
  const bad = options.ratios.filter((r) => !(r > 0 && r < 100));
  if (bad.length > 0 || options.ratios.length === 0) throw new ConfigError([`ratios: each must be a percent between 0 and 100, got ${options.ratios.join(',')}`]);
  if (!Number.isInteger(options.seed) || options.seed < 0) throw new ConfigError([`seed: must be a non-negative integer, got ${options.seed}`]);
  const s3 = parseS3Uri(options.out, '--out');
  const store = s3 ? new ArtifactStore({ ...settings.s3, bucket: s3.bucket, prefix: '' }) : undefined;
  if (store) await store.ensureBucket();
  let lastPercent = -1;
  const summary = await buildColoredMnist({
    out: options.out,
    dataset: name,
    severity: options.severity,
    ratios: options.ratios,
    seed: options.seed,
    store,
    onProgress(done, total) {
      const percent = Math.floor((100 * done) / total);
      if (percent !== lastPercent && percent % 5 === 0) log(`  ${percent}% (${done}/${total} images)`);
      lastPercent = percent;
    },
  });
  for (const r of summary.ratios) log(`${r.dir}: ${r.aligned} aligned, ${r.conflicting} conflicting`);
  log(`valid: ${summary.valid.aligned} aligned, ${summary.valid.conflicting} conflicting; test: ${summary.test.aligned} aligned, ${summary.test.conflicting} conflicting`);
  log(`${summary.filesWritten} files in ${summary.seconds.toFixed(1)} s under ${options.out}/${name}`);
}

export interface DatasetExportOptions {
  dataset: string;
  ratio: number;
  layout: string;
  out: string;
  name: string;
}

/** `diffubias dataset export <root>`: a copy of a dataset in the ImageFolder or metadata-CSV layout, with its dataset.json. */
export async function exportDatasetCommand(root: string, options: DatasetExportOptions, settings: Settings, log: (line: string) => void): Promise<void> {
  if (options.layout !== 'imagefolder' && options.layout !== 'csv') throw new ConfigError([`layout: imagefolder or csv, got ${JSON.stringify(options.layout)}`]);
  if (parseS3Uri(options.out)) throw new ConfigError(['out: a local folder (copy it to S3 afterwards)']);
  const spec = await resolveDatasetSpec(options.dataset, root, settings.s3);
  const { exportDataset } = require('../../datasets/export') as typeof import('../../datasets/export');
  const summary = await withDataSource(root, settings.s3, (source) => exportDataset(source, spec, options.ratio, { out: options.out, name: options.name, layout: options.layout as 'imagefolder' | 'csv' }));
  log(`${summary.dir}: ${summary.images.train} train (${options.layout === 'csv' ? `${summary.conflicting} bias-conflicting` : 'bias labels dropped'}), ${summary.images.valid} valid, ${summary.images.test} test; described by ${summary.dir}/dataset.json`);
}

export interface DatasetCheckOptions {
  dataset: string;
  ratio: number;
  json: boolean;
  /** Only the files' names (counts, classes), not their bytes. */
  namesOnly: boolean;
}

/**
 * `diffubias dataset check <root>`: what prepareDataset would refuse, before any experiment: the
 * report on stdout (text, or JSON), exit code 1 when it found errors.
 */
export async function checkDatasetCommand(root: string, options: DatasetCheckOptions, settings: Settings, out: (text: string) => void): Promise<number> {
  const spec = await resolveDatasetSpec(options.dataset, root, settings.s3);
  if (!(options.ratio > 0 && options.ratio < 100)) throw new ConfigError([`ratio: must be a percent between 0 and 100, got ${options.ratio}`]);
  const check = await withDataSource(root, settings.s3, (source) => checkDataset(source, spec, options.ratio, { readBytes: !options.namesOnly }));
  out(options.json ? `${JSON.stringify(check, null, 2)}\n` : `${describeCheck(check).join('\n')}\n`);
  return check.errors.length > 0 ? 1 : 0;
}
