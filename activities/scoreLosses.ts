import type { ScoreLossesInput } from '../stages/contracts';
import type { ActivityDeps } from './deps';
import { runStageActivity } from './run-stage-activity';

/** Stage (b), first half: per-sample CE and GCE of f_B over the whole training set. */
export function scoreLossesActivity(deps: ActivityDeps) {
  return async function scoreLosses(input: ScoreLossesInput) {
    return runStageActivity(deps, 'scoreLosses', 'biased', input);
  };
}
