import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { ACTIVITY_NAMES, activityOptions, type ActivityName } from '../stages/activity-table';

export type ActivityInput<N extends ActivityName> = Parameters<Activities[N]>[0];
export type ActivityOutput<N extends ActivityName> = Awaited<ReturnType<Activities[N]>>;

type Proxy<N extends ActivityName> = { executeWithOptions(o: object, a: [ActivityInput<N>]): Promise<ActivityOutput<N>> };

const proxies = Object.fromEntries(
  ACTIVITY_NAMES.map((name) => [name, proxyActivities<Activities>(activityOptions(name))[name]]),
) as unknown as { [N in ActivityName]: Proxy<N> };

/** Runs one activity with its options from stages/activity-table.ts and a summary the Web UI shows. */
export function callActivity<N extends ActivityName>(name: N, summary: string, input: ActivityInput<N>): Promise<ActivityOutput<N>> {
  return proxies[name].executeWithOptions({ ...activityOptions(name), summary }, [input]);
}
