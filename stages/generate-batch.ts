import { loadText2Image, toPng, type Device, type GeneratedImage, type Text2Image } from '../engines/diffusion/pipeline';
import { BadInputError } from '../core/errors';
import { workerSettingsFromEnv } from '../core/settings';
import type { GenerateBatchInput, GenerateBatchOutput } from './contracts';
import type { StageContext, StageEngine } from './context';
import type { Caption } from '../engines/text/caption-filter';
import { GENERATED_ROWS_FILE, type GeneratedRow } from './generated-rows';
import { readArtifact } from './artifacts';
import { KEPT_CAPTIONS } from './filter-captions';
import { bundleContentId } from '../core/bundle-store';
import { MODEL_BUNDLE } from '../engines/diffusion/bundle';
import { defineStage } from './define-stage';

export interface GenerateBatchOptions {
  device?: Device;
  intraOpThreads?: number;
  /** Images per unet call (twice that with classifier-free guidance). */
  microBatch?: number;
  /** Sync cache of s3:// bundles. */
  cacheRoot?: string;
}


export function imageName(index: number): string {
  return `images/${String(index).padStart(6, '0')}.png`;
}

async function readKept(input: GenerateBatchInput, ctx: StageContext): Promise<Caption[]> {
  const kept = await readArtifact(ctx.store, KEPT_CAPTIONS, input.keptKey);
  if (kept.length === 0) throw new BadInputError(ctx.store.uri(input.keptKey), 'no kept captions to generate from');
  return kept;
}

/**
 * The image as stored: the bundle's declared content area (`diffubias.json` crop), else whole,
 * cut from the decoded pixels and encoded once (not encoded, decoded, cut and encoded again).
 */
async function contentPng(model: Text2Image, image: GeneratedImage): Promise<Buffer> {
  const crop = model.bundle.outputCrop;
  if (!crop) return toPng(image.pixels, image.width, image.height);
  if (crop.left + crop.width > image.width || crop.top + crop.height > image.height) {
    throw new BadInputError(model.bundle.describe('diffubias.json'), `crop ${JSON.stringify(crop)} does not fit a generated ${image.width}x${image.height} image`);
  }
  const cut = new Float32Array(crop.width * crop.height * 3);
  for (let y = 0; y < crop.height; y++) {
    const from = ((crop.top + y) * image.width + crop.left) * 3;
    cut.set(image.pixels.subarray(from, from + crop.width * 3), y * crop.width * 3);
  }
  return toPng(cut, crop.width, crop.height);
}

/**
 * Images per generate call when DIFFUBIAS_GENERATE_MICROBATCH does not say. The demo generator's
 * 8x8 latents, 2 cores, warmed: 31 images/s at 8, 41 at 32, 43.8 at 50 (the demo's 100-image units
 * in two equal calls; 100 in one call is no faster). Up to 32x32 latents 32; Stable Diffusion
 * sizes 8, whose activations at 64 rows would take gigabytes.
 */
function defaultMicroBatch(model: Text2Image): number {
  const f = model.bundle.vaeScaleFactor;
  const latentPixels = (model.defaultSize.width / f) * (model.defaultSize.height / f);
  return latentPixels <= 16 * 16 ? 50 : latentPixels <= 32 * 32 ? 32 : 8;
}

/** Stored images written at once: each put is a round trip to the store. */
const PUT_CONCURRENCY = 16;

/**
 * Stage (e): images [first, first + count) of the run from the kept captions, image i from caption
 * i mod |kept| with seed baseSeed + i, so any image is reproducible alone and a retried batch writes the
 * same keys. Images already written by a previous attempt of this unit (up to its last reported `done`)
 * are listed again rather than regenerated.
 */
export function makeGenerateBatchEngine(options: GenerateBatchOptions = {}): StageEngine<GenerateBatchInput, GenerateBatchOutput> {
  return async (input, ctx) => {
    const opts = { ...workerSettingsFromEnv().generate, ...options };
    if (!Number.isInteger(input.first) || input.first < 0) throw new BadInputError('first', `expected a non-negative integer, got ${input.first}`);
    if (!Number.isInteger(input.count) || input.count < 0) throw new BadInputError('count', `expected a non-negative integer, got ${input.count}`);
    if (!Number.isInteger(input.baseSeed)) throw new BadInputError('baseSeed', `expected an integer, got ${input.baseSeed}`);
    const kept = await readKept(input, ctx);
    const total = input.count;
    const rows: GeneratedRow[] = [];
    const resumeDone = ctx.resume?.done ?? 0;
    let done = 0;
    let modelSeconds = 0;
    const load = () => loadText2Image(input.model, {
      device: opts.device, intraOpThreads: opts.intraOpThreads, s3: ctx.store.settings, cacheRoot: opts.cacheRoot, log: ctx.log,
    });
    // Loaded first unless a previous attempt stored every image: the micro-batch depends on it.
    let model = resumeDone < total ? await load() : undefined;
    const micro = opts.microBatch ?? (model ? defaultMicroBatch(model) : 8);
    // Progress counts an image once it is stored, in order, so a retry may trust `done`.
    const store = async (indices: number[], captions: Caption[], seeds: number[], pngs: Buffer[]) => {
      for (let k0 = 0; k0 < indices.length; k0 += PUT_CONCURRENCY) {
        const part = indices.slice(k0, k0 + PUT_CONCURRENCY);
        const keys = await Promise.all(part.map((i, j) => ctx.put(imageName(i), pngs[k0 + j]!, 'image/png')));
        part.forEach((_, j) => {
          const k = k0 + j;
          rows.push({ key: keys[j]!, label: captions[k]!.label, prompt: captions[k]!.text, seed: seeds[k]!, source: captions[k]!.image });
          done++;
          ctx.progress({ done, total });
        });
      }
    };
    // A micro-batch's images are stored while the next one is generated (uploads are round trips, not
    // arithmetic): at paper scale storing them in between took a sixth of the stage. One store at a time
    // keeps them in order.
    let storing: Promise<void> = Promise.resolve();
    for (let start = 0; start < total; start += micro) {
      if (ctx.signal.aborted) throw new Error('generation cancelled');
      const indices = Array.from({ length: Math.min(micro, total - start) }, (_, k) => input.first + start + k);
      const captions = indices.map((i) => kept[i % kept.length]!);
      const seeds = indices.map((i) => input.baseSeed + i);

      // Reuse what a previous attempt stored (same keys, same bytes).
      let pngs: (Buffer | null)[] = indices.map(() => null);
      if (start + indices.length <= resumeDone) pngs = await Promise.all(indices.map((i) => ctx.store.get(`${ctx.dir}/${imageName(i)}`)));
      if (pngs.some((p) => p === null)) {
        const m = model ?? (model = await load());
        const started = performance.now();
        const result = await m.generate({
          prompts: captions.map((c) => c.text), seeds, steps: input.steps, guidance: input.guidance, scheduler: input.scheduler,
          signal: ctx.signal, log: ctx.log,
          png: false, onStep: (step) => ctx.progress({ done, total, step }),
        });
        modelSeconds += (performance.now() - started) / 1000;
        pngs = await Promise.all(result.images.map((im) => contentPng(m, im)));
      } else if (start === 0) {
        ctx.log(`reusing ${Math.min(resumeDone, total)} images of a previous attempt`);
      }
      await storing;
      storing = store(indices, captions, seeds, pngs as Buffer[]);
      // Awaited above or below; this only keeps a failed upload from counting as unhandled meanwhile.
      storing.catch(() => undefined);
    }
    await storing;
    await ctx.putJson(GENERATED_ROWS_FILE, rows);
    if (total > 0) ctx.log(`generated images ${input.first}-${input.first + total - 1} (${input.scheduler ?? model?.defaultScheduler ?? 'the bundle\'s scheduler,'} ${input.steps} steps, guidance ${input.guidance}) with ${input.model}`);
    return { images: rows.length, modelSeconds: Number(modelSeconds.toFixed(3)) };
  };
}

/** The engine as the product runs it: device, threads and micro-batch from the environment. */
export const generateBatchEngine: StageEngine<GenerateBatchInput, GenerateBatchOutput> = makeGenerateBatchEngine();

/** Stage (e): one batch of images from the kept captions; a retry writes the same keys. */
export const generateBatchStage = defineStage('generateBatch', {
  unit: (input) => `batch-${String(input.batchIndex).padStart(5, '0')}`,
  identify: (input, s3) => bundleContentId(input.model, MODEL_BUNDLE, { s3 }),
  run: generateBatchEngine,
});
