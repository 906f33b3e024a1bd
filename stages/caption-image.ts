import { readFileAt } from '../core/data-source';
import { CAPTIONER_BUNDLE, loadCaptioner } from '../engines/captioner/captioner';
import { workerSettingsFromEnv } from '../core/settings';
import { BadInputError } from '../core/errors';
import type { ArtifactStore } from '../core/store';
import { z } from 'zod';
import { jsonArtifact } from './artifacts';
import type { CaptionFile, CaptionImageInput, CaptionImageOutput, LegacyCaptionImageInput } from './contracts';
import type { StageEngine } from './context';
import { bundleContentId } from '../core/bundle-store';
import { defineStage } from './define-stage';

const captionFiles: z.ZodType<CaptionFile[]> = z.array(z.object({
  image: z.string(),
  label: z.number().int(),
  captions: z.array(z.string()),
  prompt: z.string().optional(),
}));

/**
 * A unit's captions file: one CaptionFile per image, in selection order. Units of one image stored
 * a single entry before a unit held several: read as a list of one.
 */
export const CAPTIONS = jsonArtifact('captions.json', captionFiles, (stored) => (Array.isArray(stored) ? stored : [stored]));

/** A unit's input as it is now, from either shape (runs started before units held several images send the old one). */
export function currentCaptionInput(input: CaptionImageInput | LegacyCaptionImageInput): CaptionImageInput {
  if ('items' in input) return input;
  const { item, ...rest } = input;
  return { ...rest, unit: item.index, items: [item] };
}

/** The unit's name: `images-<unit>` (`image-<image index>` for a unit of the old shape, as it was named then). */
export function captionUnitName(input: CaptionImageInput | LegacyCaptionImageInput): string {
  if ('item' in input) return `image-${String(input.item.index).padStart(5, '0')}`;
  return `images-${String(input.unit).padStart(5, '0')}`;
}

/**
 * Stage (c): captions each of a unit's selected images `perImage` times (beam search, or sampling seeded
 * with `seed`: each caption row's stream depends on the seed and the row, not on the unit's other images)
 * with the captioner bundle `model`, and stores `captions.json` (a CaptionFile per image). Beam search is
 * deterministic and sampling is seeded, so a retried attempt writes the same file.
 */
export const captionImageEngine: StageEngine<CaptionImageInput, CaptionImageOutput> = async (input, ctx) => {
  if (!Number.isInteger(input.perImage) || input.perImage < 1) throw new BadInputError('perImage', `must be a positive integer, got ${input.perImage}`);
  if (input.strategy !== 'beam' && input.strategy !== 'sample') throw new BadInputError('strategy', `must be beam or sample, got ${String(input.strategy)}`);
  if (!Array.isArray(input.items) || input.items.length === 0) throw new BadInputError('items', 'a caption unit needs at least one image');
  const s3 = ctx.store.settings;
  const captioner = await loadCaptioner(input.model, { s3, device: workerSettingsFromEnv().captionDevice, log: ctx.log });
  const files: CaptionFile[] = [];
  // A few images a call: the captioner batches within it, and progress moves between calls.
  const CALL = 16;
  for (let at = 0; at < input.items.length; at += CALL) {
    const items = input.items.slice(at, at + CALL);
    const images = await Promise.all(items.map(async (item) => ({ bytes: await readFileAt(item.image, s3), name: item.image })));
    const results = await captioner.caption(images, { strategy: input.strategy, perImage: input.perImage, seed: input.seed, prompt: input.prompt, signal: ctx.signal });
    items.forEach((item, i) => {
      const result = results[i];
      if (!result) throw new Error(`no captions for ${item.image}`);
      files.push({ image: item.image, label: item.label, captions: result.captions, ...(result.prompt === undefined ? {} : { prompt: result.prompt }) });
    });
    ctx.progress({ done: files.length, total: input.items.length });
  }
  const captionsKey = await ctx.putArtifact(CAPTIONS, files);
  const first = files[0]!;
  ctx.log(`captioned ${files.length} image${files.length === 1 ? '' : 's'}; ${first.image}: ${first.captions.map((c) => JSON.stringify(c)).join(', ')}`);
  return { captionsKey, captions: files.reduce((n, f) => n + f.captions.length, 0) };
};

/** Stage (c): caption a unit of extracted images (the workflow fans these out). */
export const captionImageStage = defineStage<'captionImage', CaptionImageInput, CaptionImageOutput, CaptionImageInput | LegacyCaptionImageInput>('captionImage', {
  unit: captionUnitName,
  accept: currentCaptionInput,
  identify: (input, s3) => bundleContentId(input.model, CAPTIONER_BUNDLE, { s3 }),
  run: captionImageEngine,
});
