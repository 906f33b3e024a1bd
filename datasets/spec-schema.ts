/**
 * A dataset described by configuration: what datasets/specs.ts says of each built-in, written as a
 * JSON object (a `dataset.json` beside the data, or a file named on the command line). The built-ins
 * are specs of this schema too (test/unit/dataset-spec.test.ts parses each one back).
 */
import { z } from 'zod';
import { BadInputError } from '../core/errors';
import { readFileAt } from '../core/data-source';
import type { S3Settings } from '../core/store';
import { DATASETS, isBuiltInDataset } from './specs';
import { describeIssues } from '../core/zod-issues';

/** The file a dataset folder may hold to describe itself. */
export const DATASET_SPEC_FILE = 'dataset.json';

const positiveInt = z.number().int().min(1);

/** A dataset's name: its folder under the root, so no path separators or dots. */
export const DATASET_NAME = /^[a-z0-9][a-z0-9_-]*$/;
export const DATASET_NAME_RULE = 'lowercase letters, digits, - and _, starting with a letter or digit';

const specFields = z.object({
  /** The folder under the root (DisEnt layout: `<root>/<name>/<pct>/...`) and how results name it. */
  name: z.string().regex(DATASET_NAME, DATASET_NAME_RULE),
  classNames: z.array(z.string().min(1)).min(2, 'at least two classes'),
  /** Per class, the words a caption may name it by (the label check); absent = each class's own name. */
  classWords: z.array(z.array(z.string().min(1)).min(1, 'at least one word')).optional(),
  /** Bias-conflicting ratios (percent) the dataset comes in. */
  paperRatios: z.array(z.number().gt(0).lt(100)).default([]),
  imageSize: positiveInt,
  /** Random crop + horizontal flip while training (Table 6's photo datasets). */
  augment: z.boolean().default(false),
  arch: z.enum(['mlp', 'resnet18']).default('resnet18'),
  /** The training defaults of `train.*` for this dataset (Table 6-style). */
  paperTraining: z.object({
    batchSize: positiveInt,
    lrDecay: z.object({ every: positiveInt, factor: z.number().gt(0).max(1) }).strict().optional(),
  }).strict().default({ batchSize: 64 }),
  /** The benchmark whose published numbers this dataset is compared with, where not its own name. */
  publishedAs: z.string().optional(),
  /** How the files are laid out: `disent` (default; labels and bias in the names) or `imagefolder` (class folders, no bias labels). */
  layout: z.enum(['disent', 'imagefolder', 'csv']).optional(),
  /** layout csv: the metadata file (under the dataset's folder), its columns, and where the splits come from. */
  csv: z.object({
    file: z.string().min(1),
    columns: z.object({ path: z.string().min(1), label: z.string().min(1), bias: z.string().min(1).optional(), split: z.string().min(1).optional() }).strict(),
    splitValues: z.object({ train: z.string(), valid: z.string(), test: z.string() }).strict().optional(),
    splitFile: z.object({ file: z.string().min(1), path: z.string().min(1), split: z.string().min(1) }).strict().optional(),
    classValues: z.array(z.string()).optional(),
  }).strict().optional(),
  /** ImageFolder: the shares of train carved off as valid and test where those folders are absent, and the seed. */
  carve: z.object({ valid: z.number().gt(0).lt(1), test: z.number().gt(0).lt(1), seed: z.number().int().min(0) }).strict().optional(),
}).strict().superRefine((spec, ctx) => {
  if (spec.classWords && spec.classWords.length !== spec.classNames.length) {
    const missing = spec.classNames.slice(spec.classWords.length);
    ctx.addIssue({
      code: 'custom', path: ['classWords'],
      message: `${spec.classWords.length} entries for ${spec.classNames.length} classes${missing.length ? `: no words for ${missing.map((c) => JSON.stringify(c)).join(', ')}` : ''}`,
    });
  }
  if (new Set(spec.classNames).size !== spec.classNames.length) ctx.addIssue({ code: 'custom', path: ['classNames'], message: 'a class name appears twice' });
  if (spec.layout === 'csv' && !spec.csv) ctx.addIssue({ code: 'custom', path: ['csv'], message: 'layout csv needs this section: file and columns (path, label; bias and split optional)' });
  if (spec.csv && spec.layout !== 'csv') ctx.addIssue({ code: 'custom', path: ['csv'], message: 'only for layout csv' });
  if (spec.csv?.classValues && spec.csv.classValues.length !== spec.classNames.length) {
    ctx.addIssue({ code: 'custom', path: ['csv', 'classValues'], message: `${spec.csv.classValues.length} values for ${spec.classNames.length} classes` });
  }
});

/** A dataset spec; the output has every default applied and each class with its words. */
export const datasetSpecSchema = specFields.transform((spec) => ({ ...spec, classWords: spec.classWords ?? spec.classNames.map((name) => [name]) }));

/** A dataset spec as the pipeline reads it: every default applied, each class with its words. */
export type ConfiguredDatasetSpec = z.output<typeof datasetSpecSchema>;

/** Validates a spec, naming each wrong field (`where`: the file it came from). */
export function parseDatasetSpec(value: unknown, where: string): ConfiguredDatasetSpec {
  const parsed = datasetSpecSchema.safeParse(value);
  if (!parsed.success) throw new BadInputError(where, `not a valid dataset spec: ${describeIssues(parsed.error).join('; ')}`);
  return parsed.data;
}

/** Reads and validates a spec file: a path or s3:// URI. */
export async function loadDatasetSpec(location: string, s3: S3Settings | undefined): Promise<ConfiguredDatasetSpec> {
  const bytes = await readFileAt(location, s3);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new BadInputError(location, 'not a valid dataset spec: not JSON');
  }
  return parseDatasetSpec(json, location);
}

/** A name that is neither a built-in nor a dataset with a spec: `diffubias run` reports it as a config error. */
export class UnknownDatasetError extends BadInputError {}

/**
 * The spec a user names: a built-in's name, a spec file (`*.json`, path or s3:// URI), or the name
 * of a folder under `root` that holds a dataset.json.
 */
export async function resolveDatasetSpec(named: string, root: string, s3: S3Settings | undefined): Promise<ConfiguredDatasetSpec> {
  if (isBuiltInDataset(named)) return parseDatasetSpec(DATASETS[named], `built-in dataset ${named}`);
  if (named.endsWith('.json')) return loadDatasetSpec(named, s3);
  if (!DATASET_NAME.test(named)) {
    throw new UnknownDatasetError(named, `not a dataset: expected one of ${Object.keys(DATASETS).join(', ')}, a spec file (*.json), or a folder name under the root`);
  }
  const beside = `${root.replace(/\/+$/, '')}/${named}/${DATASET_SPEC_FILE}`;
  try {
    return await loadDatasetSpec(beside, s3);
  } catch (err) {
    if (err instanceof BadInputError && /ENOENT|NoSuchKey|not found/i.test(err.message)) {
      throw new UnknownDatasetError(beside, `no such dataset: ${JSON.stringify(named)} is not one of ${Object.keys(DATASETS).join(', ')} and has no ${DATASET_SPEC_FILE} here`);
    }
    throw err;
  }
}
