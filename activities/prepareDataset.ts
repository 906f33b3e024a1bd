import type { PrepareDatasetInput } from '../stages/contracts';
import { datasetContentId } from '../stages/prepare-dataset';
import type { ActivityDeps } from './deps';
import { runStageActivity } from './run-stage-activity';

/** Stage 0: build or check the dataset (DisEnt layout) the experiment reads. */
export function prepareDatasetActivity(deps: ActivityDeps) {
  return async function prepareDataset(input: PrepareDatasetInput) {
    return runStageActivity(deps, 'prepareDataset', 'dataset', input, () => datasetContentId(input.dataset, deps.store.settings));
  };
}
