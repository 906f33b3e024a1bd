import { readFileAt } from '../core/data-source';
import { loadCaptioner, type CaptionDevice } from '../engines/captioner/captioner';
import { BadInputError } from '../core/errors';
import type { CaptionImageInput, CaptionImageOutput } from './contracts';
import type { StageEngine } from './context';

/** What captionImage stores per image, and filterCaptions reads. */
export const CAPTIONS_FILE = 'captions.json';
export interface CaptionFile {
  /** The image's location (path or s3:// URI). */
  image: string;
  label: number;
  captions: string[];
}

/** `DIFFUBIAS_CAPTION_DEVICE=cuda` runs the captioner on onnxruntime-node's CUDA provider; default cpu. */
export function captionDevice(env: NodeJS.ProcessEnv = process.env): CaptionDevice {
  const device = env.DIFFUBIAS_CAPTION_DEVICE || 'cpu';
  if (device !== 'cpu' && device !== 'cuda') throw new BadInputError('DIFFUBIAS_CAPTION_DEVICE', `must be cpu or cuda, got ${device}`);
  return device;
}

/**
 * Stage (c): captions one selected image `perImage` times (beam search, or sampling seeded with
 * `seed`) with the captioner bundle `model`, and stores `captions.json` (CaptionFile). Beam search
 * is deterministic and sampling is seeded, so a retried attempt writes the same file.
 */
export const captionImageEngine: StageEngine<CaptionImageInput, CaptionImageOutput> = async (input, ctx) => {
  if (!Number.isInteger(input.perImage) || input.perImage < 1) throw new BadInputError('perImage', `must be a positive integer, got ${input.perImage}`);
  if (input.strategy !== 'beam' && input.strategy !== 'sample') throw new BadInputError('strategy', `must be beam or sample, got ${String(input.strategy)}`);
  const s3 = ctx.store.settings;
  const bytes = await readFileAt(input.item.image, s3);
  const captioner = await loadCaptioner(input.model, { s3, device: captionDevice(), log: ctx.log });
  const [result] = await captioner.caption([{ bytes, name: input.item.image }], {
    strategy: input.strategy,
    perImage: input.perImage,
    seed: input.seed,
    signal: ctx.signal,
  });
  if (!result) throw new Error(`no captions for ${input.item.image}`);
  const file: CaptionFile = { image: input.item.image, label: input.item.label, captions: result.captions };
  const captionsKey = await ctx.putJson(CAPTIONS_FILE, file);
  ctx.progress({ done: 1, total: 1 });
  ctx.log(`captioned ${input.item.image}: ${result.captions.map((c) => JSON.stringify(c)).join(', ')}`);
  return { captionsKey, captions: file.captions.length };
};
