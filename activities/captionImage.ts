import { bundleContentId } from '../core/bundle-store';
import { CAPTIONER_BUNDLE } from '../engines/captioner/captioner';
import type { CaptionImageInput } from '../stages/contracts';
import type { ActivityDeps } from './deps';
import { runStageActivity } from './run-stage-activity';

/** Stage (c): caption one extracted image (the workflow fans these out). */
export function captionImageActivity(deps: ActivityDeps) {
  return async function captionImage(input: CaptionImageInput) {
    return runStageActivity(deps, 'captionImage', `image-${String(input.item.index).padStart(5, '0')}`, input,
      () => bundleContentId(input.model, CAPTIONER_BUNDLE, { s3: deps.store.settings }));
  };
}
