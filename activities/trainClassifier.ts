import type { TrainClassifierInput } from '../stages/contracts';
import type { ActivityDeps } from './deps';
import { runStageActivity } from './run-stage-activity';

/** Stages (a) and (f): train f_B (GCE), the vanilla baseline (CE) or the debiased model (CE), resuming from checkpoints. */
export function trainClassifierActivity(deps: ActivityDeps) {
  return async function trainClassifier(input: TrainClassifierInput) {
    return runStageActivity(deps, 'trainClassifier', input.role, input);
  };
}
