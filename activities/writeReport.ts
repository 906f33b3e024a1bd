import type { WriteReportInput, WriteReportOutput } from '../stages/contracts';
import type { ActivityDeps } from './deps';

/** Stores a results JSON (an experiment's or a sweep's) where `diffubias report` finds it. */
export function writeReportActivity(deps: ActivityDeps) {
  return async function writeReport(input: WriteReportInput): Promise<WriteReportOutput> {
    await deps.store.putJson(input.key, input.report);
    return { key: input.key, uri: deps.store.uri(input.key) };
  };
}
