import type {
  AnalyzeModelsInput, AnalyzeModelsOutput, CaptionImageInput, CaptionImageOutput, EvaluateInput, EvaluateOutput, FilterCaptionsInput, FilterCaptionsOutput,
  GenerateBatchInput, GenerateBatchOutput, PrepareDatasetInput, PrepareDatasetOutput, ScoreLossesInput,
  ScoreLossesOutput, SelectTopKInput, SelectTopKOutput, TrainClassifierInput, TrainClassifierOutput,
} from './contracts';
import type { StageEngine } from './context';

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
  analyzeModels: StageEngine<AnalyzeModelsInput, AnalyzeModelsOutput>;
}
export type StageName = keyof Engines;
