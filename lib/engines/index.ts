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
