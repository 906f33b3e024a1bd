import { STAGE_NAMES, type ActivityName, type StageName, type StageOutput } from '../stages/activity-table';
import { PRODUCT_STAGES, type ProductStages } from '../stages/product-stages';
import type { WithManifest } from '../stages/runner/stage-runner';
import type { ActivityDeps } from './deps';
import { runStageActivity } from './run-stage-activity';
import { writeReportActivity } from './writeReport';

export type { ActivityDeps } from './deps';

/** What a stage's activity takes: its input, or the older shapes its definition accepts. */
type AcceptedInput<S extends StageName> = Parameters<ProductStages[S]['unit']>[0];
type StageActivities = { [S in StageName]: (input: AcceptedInput<S>) => Promise<WithManifest<StageOutput<S>>> };

/**
 * Each stage's activity, from its definition (stages/product-stages.ts): the unit it computes, its
 * cache identity, and its engine (the worker's, deps.engines) run as a cached stage unit.
 */
function stageActivities(deps: ActivityDeps): StageActivities {
  const activity = <S extends StageName>(name: S) => {
    // One definition per name; indexing the registry by a generic name loses that correlation.
    const stage = PRODUCT_STAGES[name] as unknown as {
      unit(input: AcceptedInput<S>): string;
      accept(input: AcceptedInput<S>): Parameters<typeof runStageActivity<S>>[3];
      identify?(input: AcceptedInput<S>, s3: ActivityDeps['store']['settings']): Promise<unknown>;
    };
    return (input: AcceptedInput<S>) => runStageActivity(deps, name, stage.unit(input), stage.accept(input),
      stage.identify && (() => stage.identify!(input, deps.store.settings)));
  };
  return Object.fromEntries(STAGE_NAMES.map((name) => [name, activity(name)])) as unknown as StageActivities;
}

/** All activities of the pipeline (those stages/activity-table.ts places), bound to one worker's store and engines. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...stageActivities(deps),
    writeReport: writeReportActivity(deps),
    // The table's activities, no more and no fewer: a missing or extra one fails to compile.
  } satisfies Record<ActivityName, unknown>;
}

export type Activities = ReturnType<typeof createActivities>;
