import { z } from 'zod';
import { DATASET_NAMES, DATASETS, isBuiltInDataset, specOf, unknownDatasetMessage, type DatasetName } from '../../datasets/specs';
import { DATASET_NAME, DATASET_NAME_RULE, datasetSpecSchema, type ConfiguredDatasetSpec } from '../../datasets/spec-schema';
import { ConfigError } from '../../core/errors';
import { describeIssues } from '../../core/zod-issues';
import { SCHEDULER_KINDS, type SchedulerKind } from '../../engines/diffusion/schedulers/config';

/** `generate.scheduler`: the bundle's own (`bundle`), or a kind by name. */
const GENERATE_SCHEDULERS: readonly ('bundle' | SchedulerKind)[] = ['bundle', ...SCHEDULER_KINDS];

const positiveInt = z.number().int().positive();

const trainSchema = z
  .object({
    epochs: positiveInt.default(50),
    batchSize: positiveInt.default(256),
    lr: z.number().positive().default(1e-3),
    optimizer: z.enum(['adam', 'sgd']).default('adam'),
    /** q of the generalized cross-entropy (paper eq. 1-2). */
    gceQ: z.number().gt(0).lte(1).default(0.7),
    /** Multiply the learning rate by `factor` every `every` epochs (Table 6); absent = constant. */
    lrDecay: z.object({ every: positiveInt, factor: z.number().gt(0).lte(1) }).strict().optional(),
    /**
     * Epochs of f_B alone; absent = `epochs`. A biased model stopped early is often the better
     * detector of bias-conflicting images (docs/protocol.md, "Choosing the recipe").
     */
    biasedEpochs: positiveInt.optional(),
    /** What f_D starts from: `scratch` (a fresh seeded model, as the official code) or `biased` (f_B's kept weights). */
    debiasedInit: z.enum(['scratch', 'biased']).optional(),
  })
  .strict();

const topKSchema = z
  .object({
    k: positiveInt.default(100),
    /** global = the paper (§3.3); per-class = K per class; official = the official code (per class, K=100, 200 at 5%). */
    mode: z.enum(['global', 'per-class', 'official']).default('global'),
    score: z.enum(['ce', 'gce']).default('ce'),
  })
  .strict();

const captionSchema = z
  .object({
    model: z.string().min(1).default('models/demo/captioner'),
    perImage: positiveInt.max(16).default(3),
    strategy: z.enum(['beam', 'sample']).default('beam'),
    /** Images per caption unit (activity), or `auto`: sized by its work (stages/unit-sizes.ts). */
    batchSize: z.union([positiveInt, z.literal('auto')]).default('auto'),
    /** Caption units run at once across the caption queue. */
    concurrency: positiveInt.default(8),
    /** A chat VLM's instruction (LLaVA, SmolVLM) or Florence-2's task token; absent = the family's default (docs/captioner.md). */
    prompt: z.string().min(1).optional(),
  })
  .strict();

const filterSchema = z
  .object({
    /** Number of top words kept; absent = 2 x number of classes (§3.4.2). */
    topF: positiveInt.optional(),
    /** word = the paper (whole words); substring = the official code. */
    match: z.enum(['word', 'substring']).default('word'),
    /** false = keep every caption (the paper's Table 4 ablation, "w/o text filter"). */
    enabled: z.boolean().default(true),
    /** Also drop a caption that names a class other than its image's label (not in the paper, so off by default; README, "Captions and the text filter"). */
    labelCheck: z.boolean().default(false),
  })
  .strict();

const generateSchema = z
  .object({
    /** The demo generator guidance-distilled (one unet pass a step at any guidance); `models/demo/generator` is the original. */
    model: z.string().min(1).default('models/demo/generator-distilled'),
    /** How many images to generate: a number, or `aligned` = as many as the bias-aligned training images (the paper's choice). */
    images: z.union([positiveInt, z.literal('aligned')]).default('aligned'),
    /** Images per generate unit (activity), or `auto`: sized by its work (stages/unit-sizes.ts). */
    batchSize: z.union([positiveInt, z.literal('auto')]).default('auto'),
    /**
     * The sampler: `bundle` = the bundle's own scheduler_config.json class (DDIM for the demo generator), or a
     * kind by name (ddim, euler, euler_a, lcm, dpmpp_2m) with the bundle's config laid under it.
     * docs/text-to-image.md has the speed / quality curve behind the default steps.
     */
    scheduler: z.enum(GENERATE_SCHEDULERS).default('bundle'),
    steps: positiveInt.max(1000).default(8),
    guidance: z.number().min(0).default(7.5),
    concurrency: positiveInt.default(2),
    /**
     * Times each generated image appears per f_D epoch. The paper generates about as many images
     * as there are bias-aligned ones; repeating a smaller set is the cheap stand-in.
     */
    repeat: positiveInt.max(100).default(1),
  })
  .strict();

const classifierSchema = z
  .object({
    /** Absent = the paper's choice per dataset: the 3x100 MLP for cmnist, ResNet-18 otherwise; `mlp-16` = DisEnt's and BiasEnsemble's 100-100-16 MLP. */
    arch: z.enum(['mlp', 'mlp-16', 'resnet18']).optional(),
    /** A tfjs layers model (folder or s3:// prefix with model.json) to start from, e.g. ImageNet-pretrained. */
    initialWeights: z.string().min(1).optional(),
    /**
     * Initial weights: `torch` = what the peers' PyTorch models start from (nn.Linear's default for
     * the MLP and the classifier head, torchvision's ResNet init for convolutions), so baselines are
     * comparable with the literature's; `glorot` = Keras' defaults (this project before 2026-12).
     */
    init: z.enum(['torch', 'glorot']).default('torch'),
    /**
     * Input normalisation: `imagenet` (torchvision's statistics, what pretrained weights expect), `none`
     * ([0, 1] pixels), or `divide-255` (the peers' MLP: [0, 1] pixels divided by 255 again, as LfF's and
     * DisEnt's code did for their published rows; docs/protocol.md). Absent = imagenet with
     * initialWeights, none without.
     */
    normalize: z.enum(['imagenet', 'none', 'divide-255']).optional(),
  })
  .strict();

const selectionSchema = z
  .object({
    /** Which epoch of vanilla and f_D is kept: `last` (as trained) or `valid` (best validation accuracy). docs/protocol.md. */
    classifiers: z.enum(['last', 'valid']).default('last'),
    /** Which epoch of f_B is kept. f_B exists to be biased: taking it at its best unbiased validation accuracy would keep its least biased epoch. */
    biased: z.enum(['last', 'valid']).default('last'),
    valid: z
      .object({
        /** `unbiased` = the split as built (Colored MNIST: colours drawn uniformly); `biased` = a view of it at the training ratio, as DisEnt's releases. */
        bias: z.enum(['unbiased', 'biased']).default('unbiased'),
        /** At most this many validation images (a seeded, class-stratified subset); absent = all. */
        size: positiveInt.optional(),
      })
      .strict()
      .default(() => ({ bias: 'unbiased' as const })),
  })
  .strict();

/** Where datasets are looked for (and Colored MNIST built) unless a config says otherwise. */
export const DEFAULT_DATASET_ROOT = '.diffubias/datasets';

export const experimentConfigSchema = z
  .object({
    /** A built-in, or a dataset described by `datasetSpec` (its folder under datasetRoot). */
    dataset: z.string({ error: `required; one of ${DATASET_NAMES.join(', ')}, or a dataset of your own with its datasetSpec` }).min(1),
    /**
     * A dataset of your own (datasets/spec-schema.ts); `diffubias run` fills it from
     * `<datasetRoot>/<dataset>/dataset.json` when the config does not give it.
     */
    datasetSpec: datasetSpecSchema.optional(),
    /** Percent of bias-conflicting training samples. */
    ratio: z
      .number({ error: 'must be a number (percent of bias-conflicting samples, e.g. 1 for 1%)' })
      .gt(0, 'must be above 0 (percent of bias-conflicting samples)')
      .lt(100, 'must be below 100 (percent of bias-conflicting samples, e.g. 1 for 1%)'),
    seed: z.number().int().min(0).default(0),
    /** Folder or s3:// prefix holding the datasets in the DisEnt layout. */
    datasetRoot: z.string().min(1).default(DEFAULT_DATASET_ROOT),
    train: trainSchema.default(() => trainSchema.parse({})),
    classifier: classifierSchema.default(() => classifierSchema.parse({})),
    /** Model selection (docs/protocol.md): which epoch each classifier keeps, and on what validation split. */
    selection: selectionSchema.default(() => selectionSchema.parse({})),
    /** The paper trains f_B with GCE; CE reproduces an ERM-biased model. */
    biasedLoss: z.enum(['gce', 'ce']).default('gce'),
    /**
     * Also train the vanilla (CE) baseline for comparison; `only` = the baseline alone (prepare,
     * train, evaluate), as the peers' protocol in `reproduce --protocol peers` runs it.
     */
    vanilla: z.union([z.boolean(), z.literal('only')]).default(true),
    topK: topKSchema.default(() => topKSchema.parse({})),
    caption: captionSchema.default(() => captionSchema.parse({})),
    filter: filterSchema.default(() => filterSchema.parse({})),
    generate: generateSchema.default(() => generateSchema.parse({})),
    /** Fan-outs (captions, generation batches) run as child workflows of at most this many units each. */
    fanOutChunk: positiveInt.max(2000).default(500),
  })
  .strict()
  .superRefine((config, ctx) => {
    const builtIn = isBuiltInDataset(config.dataset);
    if (!builtIn && !config.datasetSpec) {
      ctx.addIssue({ code: 'custom', path: ['dataset'], message: unknownDatasetMessage(config.dataset, 'its datasetSpec') });
    }
    if (builtIn && config.datasetSpec) ctx.addIssue({ code: 'custom', path: ['datasetSpec'], message: `${config.dataset} is built in: its spec is not configurable` });
    if (config.datasetSpec && config.datasetSpec.name !== config.dataset) {
      ctx.addIssue({ code: 'custom', path: ['datasetSpec', 'name'], message: `${JSON.stringify(config.datasetSpec.name)} is not the config's dataset ${JSON.stringify(config.dataset)}` });
    }
  });

export type ExperimentConfig = z.infer<typeof experimentConfigSchema>;
export type TrainConfig = z.infer<typeof trainSchema>;
/** What one classifier's training needs of `train`: the per-role choices are resolved by the workflow. */
export type ClassifierTrainConfig = Omit<TrainConfig, 'biasedEpochs' | 'debiasedInit'>;
export type ClassifierConfig = z.infer<typeof classifierSchema>;
export type SelectionConfig = z.infer<typeof selectionSchema>;
export type SelectionRule = SelectionConfig['classifiers'];
export type ValidationConfig = SelectionConfig['valid'];

export const sweepConfigSchema = z
  .object({
    /** Built-ins, or datasets of your own (each with its spec in datasetSpecs). */
    datasets: z.array(z.string().regex(DATASET_NAME, `a dataset name is ${DATASET_NAME_RULE}`)).min(1),
    /** The specs of the datasets of your own that `datasets` names; the CLI fills them from each one's dataset.json. */
    datasetSpecs: z.record(z.string(), datasetSpecSchema).default({}),
    /** Percents of bias-conflicting samples, or `paper` = each dataset's own ratios from the paper (Colored MNIST 0.5/1/2/5, BAR 1/5, ...). */
    ratios: z.union([z.array(z.number().gt(0).lt(100)).min(1), z.literal('paper')]).default('paper'),
    seeds: z.array(z.number().int().min(0)).min(1),
    /** Child experiments running at once. */
    parallelism: positiveInt.default(2),
    /** Everything of an experiment config but dataset, ratio and seed. */
    base: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export type SweepConfig = z.infer<typeof sweepConfigSchema>;

/**
 * Lays the dataset's Table 6 training defaults (batch size, lr schedule) under what the config
 * sets: a config that names `train.batchSize` or `train.lrDecay` keeps its own.
 */
function withPaperTraining(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const config = raw as Record<string, unknown>;
  const name = String(config.dataset);
  const configured = config.datasetSpec as { paperTraining?: unknown } | undefined;
  // A configured spec's own defaults (batch 64) apply when it leaves paperTraining out.
  const spec = isBuiltInDataset(name) ? DATASETS[name] : configured && { paperTraining: configured.paperTraining ?? { batchSize: 64 } };
  if (!spec || typeof spec.paperTraining !== 'object' || spec.paperTraining === null) return raw;
  const train = config.train;
  if (train !== undefined && (typeof train !== 'object' || train === null || Array.isArray(train))) return raw;
  return { ...config, train: { ...spec.paperTraining, ...(train as Record<string, unknown> | undefined) } };
}

export function parseExperimentConfig(raw: unknown, source?: string): ExperimentConfig {
  const result = experimentConfigSchema.safeParse(withPaperTraining(raw));
  if (!result.success) throw new ConfigError(describeIssues(result.error), source);
  return result.data;
}

export function parseSweepConfig(raw: unknown, source?: string): SweepConfig {
  const result = sweepConfigSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(describeIssues(result.error), source);
  // Each cell must be a valid experiment: check them all before anything starts.
  const problems: string[] = [];
  for (const [i, dataset] of result.data.datasets.entries()) {
    if (!isBuiltInDataset(dataset) && !result.data.datasetSpecs[dataset]) {
      problems.push(`datasets.${i}: ${unknownDatasetMessage(dataset, 'its spec in datasetSpecs')}`);
      continue;
    }
    const ratios = sweepRatios(result.data, dataset);
    if (ratios.length === 0) {
      problems.push(`ratios: paper, but ${dataset}'s spec lists no paperRatios; give the ratios`);
      continue;
    }
    const cell = experimentConfigSchema.safeParse(withPaperTraining(sweepCell(result.data, dataset, ratios[0]!, 0)));
    if (!cell.success) problems.push(...describeIssues(cell.error).map((line) => `base.${line}`));
  }
  if (problems.length > 0) throw new ConfigError([...new Set(problems)], source);
  return result.data;
}

/** The ratios a sweep runs for one dataset: its own list, or the paper's (a spec's paperRatios) for that dataset. */
export function sweepRatios(sweep: Pick<SweepConfig, 'ratios' | 'datasetSpecs'>, dataset: string): readonly number[] {
  return sweep.ratios === 'paper' ? specOf({ name: dataset, spec: sweep.datasetSpecs[dataset] }).paperRatios : sweep.ratios;
}

/** One cell's raw experiment config: the base, the cell, and a dataset of your own's spec. */
export function sweepCell(sweep: Pick<SweepConfig, 'base' | 'datasetSpecs'>, dataset: string, ratio: number, seed: number): Record<string, unknown> {
  const spec: ConfiguredDatasetSpec | undefined = sweep.datasetSpecs[dataset];
  return { ...sweep.base, dataset, ...(spec ? { datasetSpec: spec } : {}), ratio, seed };
}

export function numClasses(dataset: DatasetName): number {
  return DATASETS[dataset].classNames.length;
}
