import { readConfigFile } from '../stages/config/load';
import { DEFAULT_DATASET_ROOT, parseExperimentConfig, parseSweepConfig, type ExperimentConfig, type SweepConfig } from '../stages/config/schema';
import { loadDatasetSpec, resolveDatasetSpec, UnknownDatasetError } from '../datasets/spec-schema';
import { isBuiltInDataset, unknownDatasetMessage } from '../datasets/specs';
import { settingsFromEnv } from '../core/settings';
import { ConfigError } from '../core/errors';
import { QUEUE_NAMES, type QueueName } from '../stages/activity-table';

/** A flag's text as a number when it is one; otherwise the text, so the schema names the field. */
function numeric(text: string | undefined): number | string | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  return text.trim() !== '' && Number.isFinite(n) ? n : text;
}

function list(text: string | undefined): (number | string)[] | undefined {
  return text?.split(',').map((t) => numeric(t.trim())!);
}

export interface RunFlags {
  config?: string;
  dataset?: string;
  ratio?: string;
  seed?: string;
}

/** Config file (YAML/JSON) overlaid with flags, validated before anything starts. */
export async function experimentConfigFrom(flags: RunFlags): Promise<ExperimentConfig> {
  const base = flags.config ? await readConfigFile(flags.config) : {};
  const overrides = Object.fromEntries(
    Object.entries({ dataset: flags.dataset, ratio: numeric(flags.ratio), seed: numeric(flags.seed) }).filter(([, v]) => v !== undefined),
  );
  return parseExperimentConfig(await withDatasetSpec({ ...base, ...overrides }), flags.config);
}

/**
 * A dataset of your own gets its spec here, before validation: `datasetSpec` given as a file (path
 * or s3:// URI), or the dataset.json in its folder under datasetRoot; the config then carries the
 * spec itself, so the experiment (and its id) never depends on a file read later.
 */
async function withDatasetSpec(raw: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { dataset, datasetSpec, datasetRoot } = raw;
  if (typeof datasetSpec === 'string') return { ...raw, datasetSpec: await loadDatasetSpec(datasetSpec, settingsFromEnv().s3) };
  if (datasetSpec !== undefined || typeof dataset !== 'string' || isBuiltInDataset(dataset)) return raw;
  return { ...raw, datasetSpec: await specUnderRoot(dataset, datasetRoot, 'dataset') };
}

/** The dataset.json of a dataset of your own under the root a config names; none is a config error naming `field` (exit 2). */
async function specUnderRoot(dataset: string, datasetRoot: unknown, field: string): Promise<unknown> {
  const root = typeof datasetRoot === 'string' ? datasetRoot : DEFAULT_DATASET_ROOT;
  try {
    return await resolveDatasetSpec(dataset, root, settingsFromEnv().s3);
  } catch (err) {
    if (err instanceof UnknownDatasetError) {
      throw new ConfigError([`${field}: ${unknownDatasetMessage(dataset, err.where)}`]);
    }
    throw err;
  }
}

export interface SweepFlags {
  config?: string;
  datasets?: string;
  ratios?: string;
  seeds?: string;
  parallelism?: string;
}

export async function sweepConfigFrom(flags: SweepFlags): Promise<SweepConfig> {
  const base = flags.config ? await readConfigFile(flags.config) : {};
  const overrides = Object.fromEntries(
    Object.entries({
      datasets: flags.datasets?.split(',').map((d) => d.trim()),
      ratios: flags.ratios?.trim() === 'paper' ? 'paper' : list(flags.ratios),
      seeds: list(flags.seeds),
      parallelism: numeric(flags.parallelism),
    }).filter(([, v]) => v !== undefined),
  );
  const raw: Record<string, unknown> = { ...base, ...overrides };
  // Datasets of your own get their specs from their dataset.json, as `run` does, unless the config gives them.
  if (Array.isArray(raw.datasets)) {
    const given = (typeof raw.datasetSpecs === 'object' && raw.datasetSpecs !== null ? raw.datasetSpecs : {}) as Record<string, unknown>;
    const datasetRoot = (raw.base as Record<string, unknown> | undefined)?.datasetRoot;
    const specs = { ...given };
    for (const [i, dataset] of raw.datasets.entries()) {
      if (typeof dataset === 'string' && !isBuiltInDataset(dataset) && specs[dataset] === undefined) specs[dataset] = await specUnderRoot(dataset, datasetRoot, `datasets.${i}`);
    }
    if (Object.keys(specs).length > 0) raw.datasetSpecs = specs;
  }
  return parseSweepConfig(raw, flags.config);
}

/** `all` or a comma list of queue names. */
export function parseQueues(text: string): QueueName[] {
  if (text === 'all') return [...QUEUE_NAMES];
  const names = text.split(',').map((q) => q.trim());
  const bad = names.filter((q) => !(QUEUE_NAMES as readonly string[]).includes(q));
  if (bad.length > 0) throw new ConfigError([`queues: unknown queue ${bad.join(', ')}; expected all or some of ${QUEUE_NAMES.join(', ')}`]);
  return names as QueueName[];
}

/** `train=1,caption=4` → per-queue concurrency. */
export function parseConcurrency(text: string | undefined): Partial<Record<QueueName, number>> {
  if (!text) return {};
  const out: Partial<Record<QueueName, number>> = {};
  for (const pair of text.split(',')) {
    const [queue, value] = pair.split('=').map((s) => s.trim());
    const n = Number(value);
    if (!queue || !(QUEUE_NAMES as readonly string[]).includes(queue) || !Number.isInteger(n) || n < 1) {
      throw new ConfigError([`concurrency: "${pair}" is not <queue>=<positive integer> with a queue of ${QUEUE_NAMES.join(', ')}`]);
    }
    out[queue as QueueName] = n;
  }
  return out;
}

/** Accepts a workflow id or an experiment id (`cmnist/1/0/<hash>`). */
export function workflowIdOf(id: string): string {
  return id.startsWith('diffubias') ? id : `diffubias/${id}`;
}
