import type { EvaluateInput } from '../stages/contracts';
import type { ActivityDeps } from './deps';
import { runStageActivity } from './run-stage-activity';

/** Accuracy on the unbiased test set and its bias-aligned and bias-conflicting subsets. */
export function evaluateActivity(deps: ActivityDeps) {
  return async function evaluate(input: EvaluateInput) {
    return runStageActivity(deps, 'evaluate', input.role, input);
  };
}
