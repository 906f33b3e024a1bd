import { Context } from '@temporalio/activity';
import type { WriteReportInput, WriteReportOutput } from '../stages/contracts';
import { storeReport } from '../stages/report/store-report';
import type { ActivityDeps } from './deps';

/** Stores a results JSON (an experiment's or a sweep's) where `diffubias report` finds it, and an experiment's page. */
export function writeReportActivity(deps: ActivityDeps) {
  return async function writeReport(input: WriteReportInput): Promise<WriteReportOutput> {
    return storeReport(deps.store, input, (m) => Context.current().log.warn(m));
  };
}
