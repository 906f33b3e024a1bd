/**
 * The data that flows between stages (README, "Architecture"). Only ids, keys, configs and
 * metrics: images and weights stay in S3. Workflows import these as types only.
 */
import type { ClassifierConfig, ClassifierTrainConfig, ExperimentConfig, SelectionRule, ValidationConfig } from './config/schema';
import type { ConfiguredDatasetSpec } from '../datasets/spec-schema';
import type { LossName } from '../engines/classifier/losses';
import type { SchedulerKind } from '../engines/diffusion/schedulers/config';
import type { LossRow, TopKSelection } from '../engines/selection/top-k';
import type { Caption } from '../engines/text/caption-filter';
import type { ArtifactKey } from './artifacts';
import type { DecodedModel } from '../engines/classifier/model-file';
import type { ManifestKey } from './runner/manifest';
import type { SaliencyKind } from '../engines/classifier/analysis';
import type { ColourGrid } from './report/colour-check';
import type { EnergySummary } from './energy-summary';

export type ClassifierRole = 'biased' | 'vanilla' | 'debiased';
/** trainClassifier's model.bin, read through loadModel (stages/classifier-stages.ts), which checks it against its unit's manifest. */
export type ModelKey = ArtifactKey<DecodedModel>;
/** A generateBatch unit's manifest: it lists the unit's images and rows.json (stages/generated-rows.ts). */
export type GeneratedManifestKey = ManifestKey<GenerateBatchOutput>;
export type { LossName };

export interface DatasetRef {
  /** A built-in's name, or a configured dataset's (its folder under the root). */
  name: string;
  /** A configured dataset's spec (absent for the built-ins, whose stored units keep their keys). */
  spec?: ConfiguredDatasetSpec;
  ratio: number;
  seed: number;
  /** Folder or s3:// prefix of the dataset in the DisEnt layout. */
  root: string;
  /** Its content identity (prepareDataset's `contentId`), in every stage input after prepareDataset. */
  contentId?: string;
}

export interface PrepareDatasetInput {
  experimentId: string;
  dataset: DatasetRef;
}
export interface PrepareDatasetOutput {
  dataset: DatasetRef;
  /** A hash of the splits' file lists: what later stages are keyed by, rather than the path. */
  contentId: string;
  classNames: string[];
  counts: { train: number; conflicting: number; valid: number; test: number };
}

export interface TrainClassifierInput {
  experimentId: string;
  role: ClassifierRole;
  loss: LossName;
  dataset: DatasetRef;
  train: ClassifierTrainConfig;
  classifier?: ClassifierConfig;
  seed: number;
  /** Which epoch is kept (docs/protocol.md). */
  selection: SelectionRule;
  /** The validation split the epochs are measured on. */
  valid: ValidationConfig;
  /** Manifests of generated images added to the training set (the debiased role). */
  extraManifests?: GeneratedManifestKey[];
  /** Times each generated image appears per epoch (default 1). */
  extraRepeat?: number;
  /**
   * Train on the generated images alone, without the original training split: an ablation that
   * measures what the generated set carries (scripts/retrain-debiased.ts --alone). Experiments never set it.
   */
  extraOnly?: boolean;
  /** Start from this trained model's kept weights (f_D from f_B) instead of a fresh seeded model. */
  initModelKey?: ModelKey;
}
export interface TrainClassifierOutput {
  role: ClassifierRole;
  modelKey: ModelKey;
  /** The epoch whose weights were kept, and its validation accuracy. */
  bestEpoch: number;
  validAccuracy: number;
  /** How it was kept and measured: the rule, the validation split (its bias and size), the initialisation. */
  protocol: TrainingProtocol;
  /** Unbiased validation accuracy after each epoch, 1..epochs. */
  validCurve: number[];
  /** Mean training loss per epoch (absent in outputs stored before it was recorded). */
  trainLossCurve?: number[];
  /** Images per epoch: the training split plus generated images times their repeat. */
  trainImages: number;
  /** The tfjs backend that computed it (tensorflow-gpu, tensorflow, wasm or cpu). */
  backend: string;
  /** Mean training throughput over the epochs this attempt ran, images/s. */
  imagesPerSecond: number;
}

export interface TrainingProtocol {
  selection: SelectionRule;
  valid: { bias: ValidationConfig['bias']; images: number; conflicting: number };
  init: NonNullable<ClassifierConfig['init']>;
  epochs: number;
  /** The model whose weights it started from, when not a fresh one (f_D from f_B). */
  startedFrom?: string;
}

export interface ScoreLossesInput {
  experimentId: string;
  dataset: DatasetRef;
  modelKey: ModelKey;
  gceQ: number;
}
export interface ScoreLossesOutput {
  /** Table of (file, label, bias, predicted, ce, gce), one row per training image. */
  tableKey: ArtifactKey<LossRow[]>;
  rows: number;
  /** What computed the logits: 'onnxruntime' (dense stacks such as the MLP) or the tfjs backend. */
  backend: string;
}

export interface SelectedImage {
  /** Rank within the selection, 0-based. */
  index: number;
  /** The image: a dataset path or an S3 key. */
  image: string;
  label: number;
}
export interface SelectTopKInput {
  experimentId: string;
  tableKey: ArtifactKey<LossRow[]>;
  k: number;
  mode: 'global' | 'per-class' | 'official';
  score: LossName;
  numClasses?: number;
  /** The dataset's ratio (the official mode's K depends on it). */
  ratio?: number;
}
export interface SelectTopKOutput {
  selectionKey: ArtifactKey<TopKSelection>;
  items: SelectedImage[];
  /** Share of the selection that is truly bias-conflicting; null without bias labels. */
  precision: number | null;
  /** Share of all bias-conflicting training samples that were selected; null without bias labels. */
  recall: number | null;
}

export interface CaptionImageInput {
  experimentId: string;
  /** Which unit of the run's captioning this is (it names the unit). */
  unit: number;
  /** The selected images this unit captions, in selection order. */
  items: SelectedImage[];
  model: string;
  perImage: number;
  strategy: 'beam' | 'sample';
  seed: number;
  /** The instruction (chat VLMs) or task (Florence-2); absent = the family's default. */
  prompt?: string;
}
/** What a captionImage activity was given before a unit held several images: one image, named by its index. */
export type LegacyCaptionImageInput = Omit<CaptionImageInput, 'unit' | 'items'> & { item: SelectedImage };
/** What captionImage stores per image of a unit (stages/caption-image.ts, CAPTIONS); filterCaptions reads it. */
export interface CaptionFile {
  /** The image's location (path or s3:// URI). */
  image: string;
  label: number;
  captions: string[];
  /** What the captioner was asked (a chat VLM's instruction, Florence-2's task); absent for a family that takes none. */
  prompt?: string;
}
export interface CaptionImageOutput {
  captionsKey: ArtifactKey<CaptionFile[]>;
  captions: number;
}

export interface FilterCaptionsInput {
  experimentId: string;
  captionKeys: ArtifactKey<CaptionFile[]>[];
  numClasses: number;
  topF?: number;
  match: 'word' | 'substring';
  /** false = no top-word filter: every non-empty caption is kept (Table 4's ablation). */
  enabled: boolean;
  /** Present = also drop captions that name a class of this dataset other than their image's label. */
  labelCheck?: string;
  /** A configured dataset's words per class for the label check (a built-in's come from its spec). */
  classWords?: string[][];
}
export interface FilterCaptionsOutput {
  keptKey: ArtifactKey<Caption[]>;
  kept: number;
  dropped: number;
  topWords: { word: string; count: number }[];
}

export interface GenerateBatchInput {
  experimentId: string;
  keptKey: ArtifactKey<Caption[]>;
  batchIndex: number;
  /** Images [first, first + count) of the run; image i uses seed baseSeed + i. */
  first: number;
  count: number;
  baseSeed: number;
  model: string;
  /** A scheduler kind (engines/diffusion/schedulers); absent: the bundle's own. */
  scheduler?: SchedulerKind;
  steps: number;
  guidance: number;
}
/** The batch's images are listed in its manifest's rows.json (stages/generated-rows.ts); the activity returns the manifest's key. */
export interface GenerateBatchOutput {
  images: number;
  /** Seconds this attempt spent in the model (the rest of the unit: PNGs, uploads, bookkeeping); absent in older units. */
  modelSeconds?: number;
}

export interface EvaluateInput {
  experimentId: string;
  role: ClassifierRole;
  modelKey: ModelKey;
  dataset: DatasetRef;
}
export interface AnalyzeModelsInput {
  experimentId: string;
  dataset: DatasetRef;
  /** f_B's and f_D's models. */
  models: { biased: ModelKey; debiased: ModelKey };
  generatedManifests: GeneratedManifestKey[];
  /** Bias-conflicting test images to draw saliency on (one per class, round robin). */
  saliencyImages: number;
  /** Points per group (aligned, conflicting, generated) in the embedding. */
  embeddingPoints: number;
  seed: number;
}
export interface AnalyzeModelsOutput {
  analysisKey: ArtifactKey<Analysis>;
  saliency: 'grad-cam' | 'input-gradient';
  points: number;
  /** Runs from before inspectGenerated: the judge ran here (analysis.json has it per class). */
  judge?: GeneratedLabelCheck;
}

/** Is the prompted digit there? A grayscale MNIST judge's reading of every generated image. */
export interface JudgeVerdict {
  method: string;
  testAccuracy: number;
  generated: number;
  recognised: number;
  perClass: { label: number; generated: number; recognised: number }[];
}

/** inspectGenerated's file: Colored MNIST's generated set as the report shows it, the judge's verdict and images by class x measured colour. */
export interface Inspection {
  judge: JudgeVerdict;
  /** Each cell's example by its location. */
  colours: ColourGrid<string>;
}

/** `real`: a dataset's training images where it has no bias labels to split them by. */
export type EmbeddingGroup = 'aligned' | 'conflicting' | 'real' | 'generated';

/** analyzeModels' file: what f_B and f_D look at, and how f_D sees real and generated images. */
export interface Analysis {
  saliency: {
    kind: SaliencyKind;
    images: { label: number; bias: number; image: string; biased: string; debiased: string }[];
  };
  embedding: { method: 'umap'; model: 'debiased'; points: { x: number; y: number; group: EmbeddingGroup; label: number }[] };
  /** Runs from before inspectGenerated, which has these now. */
  judge?: JudgeVerdict;
  colours?: ColourGrid<string>;
}

export interface InspectGeneratedInput {
  experimentId: string;
  dataset: DatasetRef;
  generatedManifests: GeneratedManifestKey[];
}
/** Empty for a dataset without a judge (only Colored MNIST has one). */
export interface InspectGeneratedOutput {
  inspectionKey?: ArtifactKey<Inspection>;
  judge?: GeneratedLabelCheck;
}

/** The generated set's label accuracy as the in-project MNIST judge measures it (stages/mnist-judge.ts). */
export interface GeneratedLabelCheck {
  generated: number;
  recognised: number;
  /** The judge's own accuracy on MNIST's test set (%). */
  judgeTestAccuracy: number;
}

/** Percent correct. */
export interface Accuracy {
  unbiased: number;
  /** NaN (n/a) without bias labels. */
  aligned: number;
  conflicting: number;
  /** Per class, and the lowest of them (absent in results from before they were measured). */
  perClass?: number[];
  worstClass?: number;
  /** The lowest accuracy over class x bias groups (NaN, n/a, without bias labels; absent in older results). */
  worstGroup?: number;
}
export interface EvaluateOutput {
  role: ClassifierRole;
  accuracy: Accuracy;
  /** What computed the logits: 'onnxruntime' (dense stacks such as the MLP) or the tfjs backend. */
  backend: string;
}

export interface WriteReportInput {
  key: string;
  report: unknown;
  /** An experiment's results: its report page is rendered and stored beside them. */
  experiment?: boolean;
  /** The run's path in the Temporal Web UI (`/namespaces/<ns>/workflows/<id>/<run>/history`), for the page's link. */
  uiPath?: string;
}
export interface WriteReportOutput {
  key: string;
  uri: string;
  /** The report page, when one was stored; else why not. */
  htmlKey?: string;
  htmlError?: string;
}

/** What starts an experiment workflow. */
export interface ExperimentInput {
  experimentId: string;
  config: ExperimentConfig;
  configHash: string;
}

export interface StageReuse {
  stage: string;
  units: number;
  reused: number;
}

/**
 * What an experiment knows at each point where it runs side stages (stages/activity-table.ts,
 * SideStage): a side stage's input is built from these alone.
 */
export interface SidePoints {
  /** The generated set is complete; f_D starts training on it. */
  generated: {
    experimentId: string;
    dataset: DatasetRef;
    seed: number;
    generatedManifests: GeneratedManifestKey[];
  };
}

/**
 * What each side stage returned, under its name: its members come from the stage declarations
 * (stages/activity-table.ts adds them), which this module cannot import without a circle.
 */
export interface SideStageOutputs {}

export interface ExperimentResult {
  experimentId: string;
  dataset: string;
  ratio: number;
  seed: number;
  configHash: string;
  accuracy: Partial<Record<ClassifierRole, Accuracy>>;
  /** Per classifier: how its epoch was chosen, which epoch, and its validation curve. */
  training?: Partial<Record<ClassifierRole, { protocol: TrainingProtocol; bestEpoch: number; validAccuracy: number; validCurve: number[]; trainLossCurve?: number[] }>>;
  /** The method's stages; absent in a vanilla-only experiment (`vanilla: 'only'`). */
  topK?: { k: number; mode: string; selected: number; precision: number | null; recall: number | null };
  captions?: { images: number; kept: number; dropped: number; topWords: { word: string; count: number }[] };
  generated?: number;
  /** Colored MNIST: the generated set's label accuracy by the MNIST judge (absent for runs from before it, or other datasets). */
  generatedLabels?: GeneratedLabelCheck;
  /** Per stage (classifier roles apart), how many units this experiment found stored instead of computing. */
  reuse?: StageReuse[];
  /** Energy and CO2 per stage, as measured by the workers that ran this experiment's activities. */
  energy?: EnergySummary;
  /** From the workflow's start to its result (absent in results from before it was recorded). */
  wallSeconds?: number;
  /**
   * The wall seconds its units' manifests record, summed: reused units count what they cost when
   * computed, pauses and queueing count nothing, units run side by side add up (absent in results
   * from before it was recorded, or where no unit recorded its time).
   */
  unitSeconds?: number;
  reportKey: string;
  /** What each side stage returned (absent in runs from before side stages, or where none ran). */
  sideStages?: SideStageOutputs;
  /** Where the stages' outputs are, for reports. */
  artifacts?: {
    /** The method's outputs; absent in a vanilla-only experiment. */
    tableKey?: ArtifactKey<LossRow[]>;
    selectionKey?: ArtifactKey<TopKSelection>;
    keptKey?: ArtifactKey<Caption[]>;
    generatedManifests?: GeneratedManifestKey[];
    models: Partial<Record<ClassifierRole, ModelKey>>;
    /** analyzeModels' analysis.json (stages/analyze-models.ts), where it ran. */
    analysisKey?: ArtifactKey<Analysis>;
    /** inspectGenerated's inspection.json (absent in runs from before it: analysis.json held the judge then). */
    inspectionKey?: ArtifactKey<Inspection>;
  };
}
