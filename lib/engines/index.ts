import type {
  CaptionImageInput, CaptionImageOutput, EvaluateInput, EvaluateOutput, FilterCaptionsInput, FilterCaptionsOutput,
  GenerateBatchInput, GenerateBatchOutput, PrepareDatasetInput, PrepareDatasetOutput, ScoreLossesInput,
  ScoreLossesOutput, SelectTopKInput, SelectTopKOutput, TrainClassifierInput, TrainClassifierOutput,
} from '../pipeline';
import type { StageEngine } from '../stage';

/** One engine per pipeline stage; each is a plain async function over a StageContext. */
export interface Engines {
  prepareDataset: StageEngine<PrepareDatasetInput, PrepareDatasetOutput>;
  trainClassifier: StageEngine<TrainClassifierInput, TrainClassifierOutput>;
  scoreLosses: StageEngine<ScoreLossesInput, ScoreLossesOutput>;
  selectTopK: StageEngine<SelectTopKInput, SelectTopKOutput>;
  captionImage: StageEngine<CaptionImageInput, CaptionImageOutput>;
  filterCaptions: StageEngine<FilterCaptionsInput, FilterCaptionsOutput>;
  generateBatch: StageEngine<GenerateBatchInput, GenerateBatchOutput>;
  evaluate: StageEngine<EvaluateInput, EvaluateOutput>;
}
export type StageName = keyof Engines;

export const STAGE_NAMES: readonly StageName[] = [
  'prepareDataset', 'trainClassifier', 'scoreLosses', 'selectTopK', 'captionImage', 'filterCaptions', 'generateBatch', 'evaluate',
];

/** Which piece of work brings each engine, for the message a stage without one gives. */
export const ENGINE_SOURCES: Readonly<Record<StageName, string>> = {
  prepareDataset: 'the Colored MNIST builder and DisEnt readers (issue #3)',
  trainClassifier: 'the tfjs classifier engine (issue #3)',
  scoreLosses: 'the tfjs classifier engine (issue #3)',
  selectTopK: 'the top-K selection (issue #3)',
  captionImage: 'the transformers.js captioner (issue #5)',
  filterCaptions: 'the caption text filter (issue #5)',
  generateBatch: 'the ONNX text-to-image engine (issue #4)',
  evaluate: 'the tfjs classifier engine (issue #3)',
};

/**
 * The engines this build ships. Stages whose engine has not landed are absent: their activity fails
 * non-retryably saying which stage is missing, rather than producing a fake result.
 */
export function productEngines(): Partial<Engines> {
  // Loaded here, not at the top: tfjs and sharp take a second to load, which CLI commands that
  // only talk to Temporal should not pay.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { evaluateEngine, scoreLossesEngine, trainClassifierEngine } = require('./classifier-stages') as typeof import('./classifier-stages');
  const { prepareDatasetEngine } = require('./prepare-dataset') as typeof import('./prepare-dataset');
  const { selectTopKEngine } = require('./select-top-k') as typeof import('./select-top-k');
  const { filterCaptionsEngine } = require('./filter-captions') as typeof import('./filter-captions');
  return {
    filterCaptions: filterCaptionsEngine,
    prepareDataset: prepareDatasetEngine,
    trainClassifier: trainClassifierEngine,
    scoreLosses: scoreLossesEngine,
    selectTopK: selectTopKEngine,
    evaluate: evaluateEngine,
  };
}
