import type { ActivityName } from '../stages/activity-table';
import { captionImageActivity } from './captionImage';
import type { ActivityDeps } from './deps';
import { evaluateActivity } from './evaluate';
import { filterCaptionsActivity } from './filterCaptions';
import { generateBatchActivity } from './generateBatch';
import { prepareDatasetActivity } from './prepareDataset';
import { scoreLossesActivity } from './scoreLosses';
import { selectTopKActivity } from './selectTopK';
import { trainClassifierActivity } from './trainClassifier';
import { writeReportActivity } from './writeReport';
import { analyzeModelsActivity } from './analyzeModels';

export type { ActivityDeps } from './deps';

/** All activities of the pipeline (those stages/activity-table.ts places), bound to one worker's store and engines. */
export function createActivities(deps: ActivityDeps) {
  return {
    prepareDataset: prepareDatasetActivity(deps),
    trainClassifier: trainClassifierActivity(deps),
    scoreLosses: scoreLossesActivity(deps),
    selectTopK: selectTopKActivity(deps),
    captionImage: captionImageActivity(deps),
    filterCaptions: filterCaptionsActivity(deps),
    generateBatch: generateBatchActivity(deps),
    evaluate: evaluateActivity(deps),
    analyzeModels: analyzeModelsActivity(deps),
    writeReport: writeReportActivity(deps),
    // The table's activities, no more and no fewer: a missing or extra one fails to compile.
  } satisfies Record<ActivityName, unknown>;
}

export type Activities = ReturnType<typeof createActivities>;
