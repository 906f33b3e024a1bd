import { captionImageEngine } from './caption-image';
import { evaluateEngine, scoreLossesEngine, trainClassifierEngine } from './classifier-stages';
import { filterCaptionsEngine } from './filter-captions';
import { generateBatchEngine } from './generate-batch';
import type { Engines } from './index';
import { prepareDatasetEngine } from './prepare-dataset';
import { selectTopKEngine } from './select-top-k';

/**
 * The engines this build ships. Stages whose engine has not landed are absent: their activity fails
 * non-retryably saying which stage is missing, rather than producing a fake result.
 */
export function productEngines(): Partial<Engines> {
  return {
    prepareDataset: prepareDatasetEngine,
    trainClassifier: trainClassifierEngine,
    scoreLosses: scoreLossesEngine,
    selectTopK: selectTopKEngine,
    captionImage: captionImageEngine,
    filterCaptions: filterCaptionsEngine,
    generateBatch: generateBatchEngine,
    evaluate: evaluateEngine,
  };
}
