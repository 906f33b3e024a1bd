import type { SelectTopKInput } from '../stages/contracts';
import type { ActivityDeps } from './deps';
import { runStageActivity } from './run-stage-activity';

/** Stage (b), second half: the K highest-loss training images, globally or per class. */
export function selectTopKActivity(deps: ActivityDeps) {
  return async function selectTopK(input: SelectTopKInput) {
    return runStageActivity(deps, 'selectTopK', 'topk', input);
  };
}
