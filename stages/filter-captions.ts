import { DATASETS, isBuiltInDataset } from '../datasets/specs';
import { BadInputError } from '../core/errors';
import { z } from 'zod';
import { jsonArtifact, readArtifact, type ArtifactKind } from './artifacts';
import { CAPTIONS } from './caption-image';
import type { FilterCaptionsInput, FilterCaptionsOutput } from './contracts';
import type { StageEngine } from './context';
import { filterCaptions, nltkStopwords, type Caption, type FilterResult } from '../engines/text/caption-filter';
import { unitDirOf } from './runner/manifest';
import { defineStage } from './define-stage';

/** The files a filterCaptions unit writes side by side; readers find them beside its `keptKey`. */
export const FILTER_FILES = { kept: 'kept.json', dropped: 'dropped.json', topWords: 'top-words.json' } as const;
export type DroppedCaption = FilterResult['dropped'][number];
export interface TopWordsFile {
  f: number;
  match: FilterCaptionsInput['match'];
  topWords: FilterResult['topWords'];
}

/** The captions kept: what generateBatch generates from, in order. */
export const KEPT_CAPTIONS: ArtifactKind<Caption[]> = jsonArtifact(FILTER_FILES.kept, z.array(z.object({ text: z.string(), label: z.number().int(), image: z.string() })));

/** The key of one of a filterCaptions unit's files, from the unit's `keptKey`. */
export function filterFileKey(keptKey: string, file: keyof typeof FILTER_FILES): string {
  return `${unitDirOf(keptKey)}/${FILTER_FILES[file]}`;
}

/** Stage (d): the top-F filter over every caption of the run, with its audit (kept, dropped, top words). */
export const filterCaptionsEngine: StageEngine<FilterCaptionsInput, FilterCaptionsOutput> = async (input, ctx) => {
  const labelWords = input.labelCheck === undefined ? undefined : (input.classWords ?? (isBuiltInDataset(input.labelCheck) ? DATASETS[input.labelCheck].classWords : undefined));
  if (input.labelCheck !== undefined && !labelWords) throw new BadInputError('labelCheck', `unknown dataset "${input.labelCheck}" and no class words given`);
  const captions: Caption[] = [];
  for (const [i, key] of input.captionKeys.entries()) {
    for (const file of await readArtifact(ctx.store, CAPTIONS, key)) {
      for (const text of file.captions) captions.push({ text, label: file.label, image: file.image });
    }
    ctx.progress({ done: i + 1, total: input.captionKeys.length });
  }
  const result = filterCaptions(captions, {
    numClasses: input.numClasses, topF: input.topF, match: input.match, topWordFilter: input.enabled, stopwords: nltkStopwords(),
    classWords: labelWords,
  });
  const keptKey = await ctx.putArtifact(KEPT_CAPTIONS, result.kept);
  await ctx.putJson(FILTER_FILES.dropped, result.dropped satisfies DroppedCaption[]);
  await ctx.putJson(FILTER_FILES.topWords, { f: result.f, match: input.match, topWords: result.topWords } satisfies TopWordsFile);
  ctx.log(`kept ${result.kept.length} of ${captions.length} captions; top-${result.f}: ${result.topWords.map((t) => t.word).join(', ')}${input.enabled ? '' : ' (top-word filter off)'}`);
  return { keptKey, kept: result.kept.length, dropped: result.dropped.length, topWords: result.topWords };
};

/** Stage (d): the paper's text filter over every caption of the selected images. */
export const filterCaptionsStage = defineStage('filterCaptions', { unit: 'filter', run: filterCaptionsEngine });
