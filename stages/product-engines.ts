import { captionImageEngine } from './caption-image';
import { evaluateEngine, scoreLossesEngine, trainClassifierEngine } from './classifier-stages';
import { filterCaptionsEngine } from './filter-captions';
import { generateBatchEngine } from './generate-batch';
import type { Engines } from './stage-engines';
import { prepareDatasetEngine } from './prepare-dataset';
import { selectTopKEngine } from './select-top-k';
import { analyzeModelsEngine } from './analyze-models';

/** The product's engine for every stage. */
export function productEngines(): Engines {
  return {
    prepareDataset: prepareDatasetEngine,
    trainClassifier: trainClassifierEngine,
    scoreLosses: scoreLossesEngine,
    selectTopK: selectTopKEngine,
    captionImage: captionImageEngine,
    filterCaptions: filterCaptionsEngine,
    generateBatch: generateBatchEngine,
    evaluate: evaluateEngine,
    analyzeModels: analyzeModelsEngine,
  };
}
