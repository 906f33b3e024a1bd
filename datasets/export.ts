/**
 * A dataset copied into another layout (`diffubias dataset export`): the same images and labels, as an
 * ImageFolder (bias labels dropped: what a dataset without them looks like) or as a metadata CSV
 * (bias kept), with the dataset.json that describes the copy. Rows and files keep the source's
 * listing order, so an experiment on the copy reads its images in the same order as on the original.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isConflicting } from '../core/bias';
import type { DataSource } from '../core/data-source';
import { BadInputError } from '../core/errors';
import { CSV_METADATA_COLUMNS, metadataCsv } from './csv/layout';
import type { Sample, Split } from './disent/layout';
import { listDatasetSplit } from './layouts';
import { DATASET_NAME, DATASET_NAME_RULE, DATASET_SPEC_FILE } from './spec-schema';
import type { DatasetFacts } from './specs';

export type ExportLayout = 'imagefolder' | 'csv';

export interface ExportSummary {
  name: string;
  dir: string;
  images: Record<Split, number>;
  conflicting: number;
}

const SPLITS: readonly Split[] = ['train', 'valid', 'test'];
/** Files copied at once. */
const CONCURRENCY = 16;

/** The image's path under the dataset's folder, kept by the CSV copy. */
function underDataset(sample: Sample, name: string): string {
  return sample.path.startsWith(`${name}/`) ? sample.path.slice(name.length + 1) : sample.path;
}

export async function exportDataset(
  source: DataSource, spec: DatasetFacts, ratio: number, options: { out: string; name: string; layout: ExportLayout },
): Promise<ExportSummary> {
  if (!DATASET_NAME.test(options.name)) throw new BadInputError(options.name, `a dataset name is ${DATASET_NAME_RULE}`);
  const dir = join(options.out, options.name);
  const listings = Object.fromEntries(await Promise.all(SPLITS.map(async (split) => [split, (await listDatasetSplit(source, spec, ratio, split)).samples] as const))) as Record<Split, Sample[]>;
  const target = (split: Split, sample: Sample) => options.layout === 'imagefolder'
    ? join(split, spec.classNames[sample.label]!, sample.path.slice(sample.path.lastIndexOf('/') + 1))
    : underDataset(sample, spec.name);
  const jobs = SPLITS.flatMap((split) => listings[split].map((sample) => ({ sample, to: join(dir, target(split, sample)) })));
  for (let at = 0; at < jobs.length; at += CONCURRENCY) {
    await Promise.all(jobs.slice(at, at + CONCURRENCY).map(async ({ sample, to }) => {
      await mkdir(dirname(to), { recursive: true });
      await writeFile(to, await source.read(sample.path));
    }));
  }
  const { name: _source, publishedAs: _published, layout: _layout, csv: _csv, carve: _carve, ...facts } = spec;
  const described = options.layout === 'imagefolder'
    ? { name: options.name, ...facts, layout: 'imagefolder' }
    : { name: options.name, ...facts, layout: 'csv', csv: { file: 'metadata.csv', columns: CSV_METADATA_COLUMNS } };
  if (options.layout === 'csv') {
    const rows = SPLITS.flatMap((split) => listings[split].map((s) => ({ path: underDataset(s, spec.name), label: s.label, bias: s.bias, split })));
    await writeFile(join(dir, 'metadata.csv'), metadataCsv(rows));
  }
  await writeFile(join(dir, DATASET_SPEC_FILE), `${JSON.stringify(described, null, 2)}\n`);
  return {
    name: options.name, dir,
    images: Object.fromEntries(SPLITS.map((s) => [s, listings[s].length])) as Record<Split, number>,
    conflicting: listings.train.filter(isConflicting).length,
  };
}
