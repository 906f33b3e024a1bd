import { DATASETS } from '../../datasets/specs';
import { BadInputError } from '../errors';
import type { CaptionFile, FilterCaptionsInput, FilterCaptionsOutput } from '../pipeline';
import type { StageEngine } from '../stage';
import { filterCaptions, nltkStopwords, type Caption } from '../text/caption-filter';

/** Stage (d): the top-F filter over every caption of the run, with its audit (kept, dropped, top words). */
export const filterCaptionsEngine: StageEngine<FilterCaptionsInput, FilterCaptionsOutput> = async (input, ctx) => {
  if (input.labelCheck !== undefined && !(input.labelCheck in DATASETS)) throw new BadInputError('labelCheck', `unknown dataset "${input.labelCheck}"`);
  const captions: Caption[] = [];
  for (const [i, key] of input.captionKeys.entries()) {
    const file = await ctx.store.getJson<CaptionFile>(key);
    if (!file || !Array.isArray(file.captions)) throw new BadInputError(ctx.store.uri(key), 'not a captions file');
    for (const text of file.captions) captions.push({ text, label: file.label, image: file.image });
    ctx.progress({ done: i + 1, total: input.captionKeys.length });
  }
  const result = filterCaptions(captions, {
    numClasses: input.numClasses, topF: input.topF, match: input.match, stopwords: nltkStopwords(),
    classWords: input.labelCheck ? DATASETS[input.labelCheck].classWords : undefined,
  });
  const keptKey = await ctx.putJson('kept.json', result.kept);
  await ctx.putJson('dropped.json', result.dropped);
  await ctx.putJson('top-words.json', { f: result.f, match: input.match, topWords: result.topWords });
  ctx.log(`kept ${result.kept.length} of ${captions.length} captions; top-${result.f}: ${result.topWords.map((t) => t.word).join(', ')}`);
  return { keptKey, kept: result.kept.length, dropped: result.dropped.length, topWords: result.topWords };
};
