import type { AnalyzeModelsInput } from '../stages/contracts';
import type { ActivityDeps } from './deps';
import { runStageActivity } from './run-stage-activity';

/** Saliency of f_B and f_D on the same images, and an embedding of f_D's features, for the report. */
export function analyzeModelsActivity(deps: ActivityDeps) {
  return async function analyzeModels(input: AnalyzeModelsInput) {
    return runStageActivity(deps, 'analyzeModels', 'models', input);
  };
}
