import type { FilterCaptionsInput } from '../stages/contracts';
import type { ActivityDeps } from './deps';
import { runStageActivity } from './run-stage-activity';

/** Stage (d): keep captions that carry a top-F word; the audit (kept, dropped, top words) is stored. */
export function filterCaptionsActivity(deps: ActivityDeps) {
  return async function filterCaptions(input: FilterCaptionsInput) {
    return runStageActivity(deps, 'filterCaptions', 'filter', input);
  };
}
