/**
 * One chunk of a per-item stage (captionImage per image, generateBatch per batch) as a child
 * workflow with a sliding window of activities, so a fan-out of thousands keeps every history small.
 */
import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { CaptionImageInput, CaptionImageOutput, GenerateBatchInput, GenerateBatchOutput } from '../lib/pipeline';
import { ACTIVITY_OPTIONS } from './activity-options';
import { installControl } from './control';
import { SEARCH_ATTRIBUTES } from './definitions';

export type FanOutInput =
  | { kind: 'captionImage'; items: CaptionImageInput[]; concurrency: number; startPaused?: boolean }
  | { kind: 'generateBatch'; items: GenerateBatchInput[]; concurrency: number; startPaused?: boolean };

export type FanOutOutput<K extends FanOutInput['kind']> = K extends 'captionImage'
  ? (CaptionImageOutput & { manifestKey: string })[]
  : (GenerateBatchOutput & { manifestKey: string })[];

const { captionImage } = proxyActivities<Activities>(ACTIVITY_OPTIONS.captionImage);
const { generateBatch } = proxyActivities<Activities>(ACTIVITY_OPTIONS.generateBatch);

export async function fanOut(input: FanOutInput): Promise<unknown[]> {
  const control = installControl(input.startPaused ?? false);
  control.progress.stage = input.kind;
  control.progress.total = input.items.length;
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: input.kind }]);

  const runOne = (i: number): Promise<unknown> => {
    if (input.kind === 'captionImage') {
      const item = input.items[i]!;
      return captionImage.executeWithOptions(
        { ...ACTIVITY_OPTIONS.captionImage, summary: `caption image #${item.item.index} (label ${item.item.label}): ${item.item.image}` },
        [item],
      );
    }
    const batch = input.items[i]!;
    return generateBatch.executeWithOptions(
      { ...ACTIVITY_OPTIONS.generateBatch, summary: `generate batch ${batch.batchIndex}: images ${batch.first}-${batch.first + batch.count - 1}` },
      [batch],
    );
  };

  const results: unknown[] = new Array(input.items.length);
  let next = 0;
  const lane = async () => {
    for (;;) {
      await control.whenRunning();
      if (next >= input.items.length) return;
      const i = next++;
      results[i] = await runOne(i);
      control.progress.done += 1;
    }
  };
  const width = Math.max(1, Math.min(input.concurrency, input.items.length));
  await Promise.all(Array.from({ length: width }, lane));
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.stage, value: 'done' }]);
  control.progress.stage = 'done';
  return results;
}
