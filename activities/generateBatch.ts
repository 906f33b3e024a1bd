import { bundleContentId } from '../core/bundle-store';
import { MODEL_BUNDLE } from '../engines/diffusion/bundle';
import type { GenerateBatchInput } from '../stages/contracts';
import type { ActivityDeps } from './deps';
import { runStageActivity } from './run-stage-activity';

/** Stage (e): generate one batch of images from the kept captions; a retry writes the same keys. */
export function generateBatchActivity(deps: ActivityDeps) {
  return async function generateBatch(input: GenerateBatchInput) {
    return runStageActivity(deps, 'generateBatch', `batch-${String(input.batchIndex).padStart(5, '0')}`, input,
      () => bundleContentId(input.model, MODEL_BUNDLE, { s3: deps.store.settings }));
  };
}
