import { bundleContentId } from '../core/bundle-store';
import { CAPTIONER_BUNDLE } from '../engines/captioner/captioner';
import { captionUnitName, currentCaptionInput } from '../stages/caption-image';
import type { CaptionImageInput, LegacyCaptionImageInput } from '../stages/contracts';
import type { ActivityDeps } from './deps';
import { runStageActivity } from './run-stage-activity';

/** Stage (c): caption a unit of extracted images (the workflow fans these out). */
export function captionImageActivity(deps: ActivityDeps) {
  return async function captionImage(input: CaptionImageInput | LegacyCaptionImageInput) {
    return runStageActivity(deps, 'captionImage', captionUnitName(input), currentCaptionInput(input),
      () => bundleContentId(input.model, CAPTIONER_BUNDLE, { s3: deps.store.settings }));
  };
}
