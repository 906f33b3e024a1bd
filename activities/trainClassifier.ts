import { bundleContentId } from '../core/bundle-store';
import { INITIAL_WEIGHTS } from '../engines/classifier/initial-weights';
import type { TrainClassifierInput } from '../stages/contracts';
import type { ActivityDeps } from './deps';
import { runStageActivity } from './run-stage-activity';

/** Stages (a) and (f): train f_B (GCE), the vanilla baseline (CE) or the debiased model (CE), resuming from checkpoints. */
export function trainClassifierActivity(deps: ActivityDeps) {
  return async function trainClassifier(input: TrainClassifierInput) {
    const weights = input.classifier?.initialWeights;
    return runStageActivity(deps, 'trainClassifier', input.role, input,
      weights ? async () => ({ initialWeights: await bundleContentId(weights, INITIAL_WEIGHTS, { s3: deps.store.settings }) }) : undefined);
  };
}
