import type { Engines, StageInput, StageName, StageOutput } from './activity-table';
import { analyzeModelsStage } from './analyze-models';
import { captionImageStage } from './caption-image';
import { evaluateStage, scoreLossesStage, trainClassifierStage } from './classifier-stages';
import type { StageDefinition } from './define-stage';
import { filterCaptionsStage } from './filter-captions';
import { generateBatchStage } from './generate-batch';
import { inspectGeneratedStage } from './inspect-generated';
import { measureDiversityStage } from './measure-diversity';
import { prepareDatasetStage } from './prepare-dataset';
import { selectTopKStage } from './select-top-k';

/** Every stage of the pipeline as the product computes it; one line each, in pipeline order. */
export const PRODUCT_STAGES = {
  prepareDataset: prepareDatasetStage,
  trainClassifier: trainClassifierStage,
  scoreLosses: scoreLossesStage,
  selectTopK: selectTopKStage,
  captionImage: captionImageStage,
  filterCaptions: filterCaptionsStage,
  generateBatch: generateBatchStage,
  inspectGenerated: inspectGeneratedStage,
  evaluate: evaluateStage,
  analyzeModels: analyzeModelsStage,
  measureDiversity: measureDiversityStage,
  // Each declared stage, no more and no fewer, under its own name, taking and returning what its
  // declaration says: anything else fails to compile.
} as const satisfies { [S in StageName]: StageDefinition<S, StageInput<S>, StageOutput<S>, never> };

export type ProductStages = typeof PRODUCT_STAGES;

/** The product's engine for every stage (workers; tests swap in doubles for some). */
export function productEngines(): Engines {
  return Object.fromEntries(Object.entries(PRODUCT_STAGES).map(([name, stage]) => [name, stage.run])) as unknown as Engines;
}
