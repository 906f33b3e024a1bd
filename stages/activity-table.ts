import { ActivityCancellationType, type ActivityOptions } from '@temporalio/common';
import type {
  AnalyzeModelsInput, AnalyzeModelsOutput, CaptionImageInput, CaptionImageOutput, EvaluateInput, EvaluateOutput, FilterCaptionsInput, FilterCaptionsOutput,
  GenerateBatchInput, GenerateBatchOutput, InspectGeneratedInput, InspectGeneratedOutput, PrepareDatasetInput, PrepareDatasetOutput, ScoreLossesInput,
  ScoreLossesOutput, SelectTopKInput, SelectTopKOutput, SideStageOutputs, SidePoints, TrainClassifierInput, TrainClassifierOutput,
} from './contracts';
import type { StageEngine } from './context';
import type { MeasureDiversityInput, MeasureDiversityOutput } from './measure-diversity';

/**
 * Where and how each activity runs: its task queue, timeouts, retry policy and the failure types
 * never retried; and each pipeline stage's declaration (its row, code version, input and output
 * types). The one table both sides read: workflows build their activity options from it, workers
 * register on each queue the activities it assigns there, the cache keys take their versions from
 * it, and the activity wrapper throws the failure types it names. Pure constants and types, so
 * workflow code can import it; what a stage computes is declared beside its engine (defineStage,
 * stages/define-stage.ts).
 */

/** Task queues per resource, so GPU training, GPU inference and CPU work scale (and are imaged) separately. */
export const QUEUE_NAMES = ['workflow', 'cpu', 'train', 'caption', 'generate'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export const TASK_QUEUES: Readonly<Record<QueueName, string>> = {
  workflow: 'diffubias-workflow',
  cpu: 'diffubias-cpu',
  train: 'diffubias-train',
  caption: 'diffubias-caption',
  generate: 'diffubias-generate',
};

/** Activities run at once per worker and queue; a GPU queue defaults to one at a time. */
export const DEFAULT_CONCURRENCY: Readonly<Record<QueueName, number>> = {
  workflow: 50,
  cpu: 4,
  train: 1,
  caption: 2,
  generate: 1,
};

/** Failure types the workflows never retry: bad input (config, data) and a stage this worker cannot run. */
export const NON_RETRYABLE = { badInput: 'BadInput', engineMissing: 'EngineMissing' } as const;

interface ActivityPlacement {
  queue: Exclude<QueueName, 'workflow'>;
  startToCloseTimeout: ActivityOptions['startToCloseTimeout'];
  /** Long stages heartbeat; a missed heartbeat means a lost worker. */
  heartbeatTimeout?: ActivityOptions['heartbeatTimeout'];
}

/**
 * A pipeline stage as workflows and workers both see it: its activity's row, its code version, and
 * (as types only) what goes in and what comes out.
 *
 * `version` is part of every unit's cache key (flytekit's `Cache(version=…)`). Bump it in the same
 * commit that changes what the stage computes (its engine's arithmetic, a scheduler, a loss, beam
 * search, a file it writes): every stored unit of that stage is then computed again on its next
 * use, and so is everything downstream, whose inputs name the recomputed outputs by their stored
 * keys. Stages upstream keep their stored units. A change that cannot change any output (a log
 * line, a speed-up with bit-identical results) needs no bump.
 */
export interface StageDeclaration<I, O> extends ActivityPlacement {
  version: number;
  /** Never set: it carries the stage's input and output types to the workflows and the engines. */
  readonly io?: { input: I; output: O };
}

const stage = <I, O>(declaration: ActivityPlacement & { version: number }): StageDeclaration<I, O> => declaration;

/**
 * A side stage: one an experiment runs at a point of its pipeline (`at`) while no later stage reads
 * what it returns (an analysis, a check). The experiment runs every side stage declared for a point,
 * each behind its own patch, builds its input from what it knows there, and hands its output to the
 * result (`ExperimentResult.sideStages`) and the report: adding one touches no workflow code.
 */
export interface SideStage<I, O, P extends keyof SidePoints = keyof SidePoints> {
  at: P;
  /** Pure: the workflow calls it. */
  input(known: SidePoints[P]): I;
  /** The activity's summary in the Web UI. */
  summary(input: I): string;
  /** One line for the report and the demo: what the output says. */
  describe(output: O): string;
}

export interface SideStageDeclaration<I, O> extends StageDeclaration<I, O> {
  side: SideStage<I, O>;
}

const sideStage = <I, O>(declaration: ActivityPlacement & { version: number; side: SideStage<I, O> }): SideStageDeclaration<I, O> => declaration;

/**
 * Heartbeat timeouts of a minute: a lost worker's activity is retried elsewhere within about a
 * minute. Attempts heartbeat every 10 s while they run (the activity layer re-sends the last
 * progress even when a stage reports none), so a minute is six missed beats, not a slow epoch.
 */
export const STAGE_DECLARATIONS = {
  prepareDataset: stage<PrepareDatasetInput, PrepareDatasetOutput>({ queue: 'cpu', startToCloseTimeout: '2h', heartbeatTimeout: '1m', version: 1 }),
  // version 2: the dense stack's products are BatchMatMulV2 (engines/classifier/tensorflow-ops.ts);
  // 3: the MLP's Adam step is one TensorFlow graph (engines/classifier/dense-graph-step.ts). Both
  // the same arithmetic in another rounding.
  trainClassifier: stage<TrainClassifierInput, TrainClassifierOutput>({ queue: 'train', startToCloseTimeout: '48h', heartbeatTimeout: '1m', version: 3 }),
  scoreLosses: stage<ScoreLossesInput, ScoreLossesOutput>({ queue: 'train', startToCloseTimeout: '4h', heartbeatTimeout: '1m', version: 1 }),
  selectTopK: stage<SelectTopKInput, SelectTopKOutput>({ queue: 'cpu', startToCloseTimeout: '30m', heartbeatTimeout: '1m', version: 1 }),
  captionImage: stage<CaptionImageInput, CaptionImageOutput>({ queue: 'caption', startToCloseTimeout: '30m', heartbeatTimeout: '1m', version: 1 }),
  filterCaptions: stage<FilterCaptionsInput, FilterCaptionsOutput>({ queue: 'cpu', startToCloseTimeout: '30m', heartbeatTimeout: '1m', version: 1 }),
  generateBatch: stage<GenerateBatchInput, GenerateBatchOutput>({ queue: 'generate', startToCloseTimeout: '4h', heartbeatTimeout: '1m', version: 1 }),
  inspectGenerated: stage<InspectGeneratedInput, InspectGeneratedOutput>({ queue: 'cpu', startToCloseTimeout: '2h', heartbeatTimeout: '1m', version: 1 }),
  // version 2: per-class and worst-class accuracy.
  evaluate: stage<EvaluateInput, EvaluateOutput>({ queue: 'train', startToCloseTimeout: '4h', heartbeatTimeout: '1m', version: 3 }),
  // version 2: UMAP at 200 layout epochs; the output names the judge's verdict on the generated set.
  // 3: the judge and the colours moved to inspectGenerated.
  analyzeModels: stage<AnalyzeModelsInput, AnalyzeModelsOutput>({ queue: 'train', startToCloseTimeout: '2h', heartbeatTimeout: '1m', version: 4 }),
  measureDiversity: sideStage<MeasureDiversityInput, MeasureDiversityOutput>({
    queue: 'cpu', startToCloseTimeout: '1h', heartbeatTimeout: '1m', version: 1,
    side: {
      at: 'generated',
      input: ({ experimentId, dataset, generatedManifests, seed }) => ({ experimentId, dataset, generatedManifests, perClass: 100, seed }),
      summary: (input) => `how varied the generated images are, up to ${input.perClass} per class, beside as many real training images`,
      describe: ({ meanDistance, nearDuplicateShare, realMeanDistance, sampled }) => {
        if (meanDistance === null || nearDuplicateShare === null) return 'fewer than two generated images in every class: no diversity to measure';
        const real = realMeanDistance === null || realMeanDistance === 0 ? '' : `, real training images by ${realMeanDistance.toFixed(3)} (the generated set has ${Math.round((100 * meanDistance) / realMeanDistance)}% of their spread)`;
        return `${sampled} generated images, seen as shapes (32 px), differ from others of their class by ${meanDistance.toFixed(3)} RMS on average${real}; ${(100 * nearDuplicateShare).toFixed(1)}% have a near-identical twin`;
      },
    },
  }),
} as const;

export type StageName = keyof typeof STAGE_DECLARATIONS;
export const STAGE_NAMES = Object.keys(STAGE_DECLARATIONS) as StageName[];
type StageIo<S extends StageName> = NonNullable<(typeof STAGE_DECLARATIONS)[S]['io']>;
export type StageInput<S extends StageName> = StageIo<S>['input'];
export type StageOutput<S extends StageName> = StageIo<S>['output'];
/** The engine of every stage, typed by its declaration: what the product's and a test double's must take and return. */
export type Engines = { [S in StageName]: StageEngine<StageInput<S>, StageOutput<S>> };

/** The stages an experiment runs at a point of its pipeline (SideStage), in declaration order. */
export type SideStageName = { [S in StageName]: (typeof STAGE_DECLARATIONS)[S] extends { side: object } ? S : never }[StageName];
export const SIDE_STAGE_NAMES = STAGE_NAMES.filter((name) => 'side' in STAGE_DECLARATIONS[name]) as SideStageName[];
/** A side stage's declaration with its own types (indexing the table by a generic name loses them). */
export function sideStageOf<S extends SideStageName>(name: S): SideStage<StageInput<S>, StageOutput<S>> {
  return (STAGE_DECLARATIONS[name] as unknown as SideStageDeclaration<StageInput<S>, StageOutput<S>>).side;
}
/** What the side stages returned, each under its name (absent where one did not run). */
type DeclaredSideStageOutputs = { [S in SideStageName]?: StageOutput<S> };
declare module './contracts' {
  // Fills in contracts' SideStageOutputs (ExperimentResult.sideStages) from the table, which
  // contracts cannot import: the stage modules the table names import contracts.
  interface SideStageOutputs extends DeclaredSideStageOutputs {}
}
/** Each side stage that ran, with its own line (SideStage.describe), for the report and the demo. */
export function describeSideStages(outputs: SideStageOutputs | undefined): { name: SideStageName; line: string }[] {
  return SIDE_STAGE_NAMES.flatMap((name) => {
    const output = outputs?.[name];
    return output === undefined ? [] : [{ name, line: sideStageOf(name).describe(output) }];
  });
}

export type StageVersions = Readonly<Record<StageName, number>>;
/** Each stage's code version, as declared above. */
export const STAGE_VERSIONS: StageVersions = Object.fromEntries(STAGE_NAMES.map((name) => [name, STAGE_DECLARATIONS[name].version])) as Record<StageName, number>;

/** Every activity: the stages, and the report, which is not a cached stage. */
export const ACTIVITY_TABLE = {
  ...STAGE_DECLARATIONS,
  // Rendering the page reads every generated image once (their colours): minutes for tens of thousands.
  writeReport: { queue: 'cpu', startToCloseTimeout: '30m' },
} as const satisfies Record<string, ActivityPlacement>;

export type ActivityName = keyof typeof ACTIVITY_TABLE;
export const ACTIVITY_NAMES = Object.keys(ACTIVITY_TABLE) as ActivityName[];

/**
 * 2, 4, 8, ... 64 s, then 2 min between attempts: eight attempts span about four minutes, so an
 * S3 or Temporal outage of a minute or two costs retries, not the run.
 */
export const RETRY: NonNullable<ActivityOptions['retry']> = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '2m',
  maximumAttempts: 8,
  nonRetryableErrorTypes: Object.values(NON_RETRYABLE),
};

/** The options a workflow schedules an activity with. */
export function activityOptions(name: ActivityName): ActivityOptions {
  const { queue, startToCloseTimeout, heartbeatTimeout } = ACTIVITY_TABLE[name] as ActivityPlacement;
  const timeouts = heartbeatTimeout === undefined ? { startToCloseTimeout } : { startToCloseTimeout, heartbeatTimeout };
  return {
    taskQueue: TASK_QUEUES[queue],
    ...timeouts,
    retry: RETRY,
    // A cancelled workflow waits for its running activities to stop (they learn of it through
    // their heartbeats), so nothing writes to S3 after the workflow has closed.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  };
}

/** The activities a queue's workers register: those the table places there. */
export function queueActivities(queue: QueueName): ActivityName[] {
  return ACTIVITY_NAMES.filter((name) => ACTIVITY_TABLE[name].queue === queue);
}
