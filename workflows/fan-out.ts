/**
 * One chunk of a per-item stage (captionImage per image, generateBatch per batch) as a child
 * workflow with a sliding window of activities, so a fan-out of thousands keeps every history small.
 */
import { upsertSearchAttributes } from '@temporalio/workflow';
import { callActivity, type ActivityInput, type ActivityOutput } from './call-activity';
import { installControl } from './control';
import { installLiveDetails } from './live-details';
import { SEARCH_ATTRIBUTES } from './definitions';
import { slidingWindow } from './sliding-window';

/** The stages that run once per item. */
export type FanOutKind = 'captionImage' | 'generateBatch';

export interface FanOutInput<K extends FanOutKind = FanOutKind> {
  kind: K;
  items: ActivityInput<K>[];
  concurrency: number;
  startPaused?: boolean;
}

/** What the Web UI shows for each activity of a fan-out. */
const SUMMARY: { [K in FanOutKind]: (item: ActivityInput<K>) => string } = {
  captionImage: (unit) => ('item' in unit
    ? `caption image #${unit.item.index} (label ${unit.item.label}): ${unit.item.image}`
    : `caption unit ${unit.unit}: images #${unit.items[0]?.index}-#${unit.items[unit.items.length - 1]?.index}`),
  generateBatch: (batch) => `generate batch ${batch.batchIndex}: images ${batch.first}-${batch.first + batch.count - 1}`,
};

export async function fanOut<K extends FanOutKind>(input: FanOutInput<K>): Promise<ActivityOutput<K>[]> {
  const control = installControl(input.startPaused ?? false);
  control.progress.stage = input.kind;
  control.progress.total = input.items.length;
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: input.kind }]);
  const live = installLiveDetails(control, `${input.kind}: ${input.items.length} ${input.kind === 'captionImage' ? 'caption units' : 'batches'}, ${input.concurrency} at a time`);

  const summary = SUMMARY[input.kind] as (item: ActivityInput<K>) => string;
  const results: ActivityOutput<K>[] = new Array(input.items.length);
  await slidingWindow(input.items.length, input.concurrency, () => control.whenRunning(), async (i) => {
    const item = input.items[i]!;
    results[i] = await callActivity(input.kind, summary(item), item);
    control.progress.done += 1;
    live.render();
  });
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: 'done' }]);
  control.progress.stage = 'done';
  live.render();
  return results;
}
