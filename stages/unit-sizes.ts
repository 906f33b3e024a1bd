/**
 * How much work one unit (one activity) of a fanned-out stage holds when the config says `auto`. A unit
 * is the grain of scheduling, retries and reuse: fixed small units (8 images a generate unit, one image a
 * caption unit) spent more time on scheduling and manifests than on the work at paper scale; much
 * larger ones leave workers idle and make a retry redo more. Pure, so workflow code can import it.
 */

/**
 * How many images a generate unit holds when `generate.batchSize` is `auto`: as many as make about
 * {@link UNIT_UNET_ROWS} unet rows (images x steps, twice that with classifier-free guidance), about
 * half a minute of the demo generator's work on 2 cores (8x8 latents, ~1,000 rows/s).
 *
 * The rule cannot see the bundle's latent size (the workflow reads no files): a bundle whose rows cost far
 * more (Stable Diffusion's 64x64 latents) gets units of the same image count and so of many minutes,
 * which is safe (a unit resumes from its last stored image) but coarse: set a number there.
 */
export const UNIT_UNET_ROWS = 30_000;

/** Never more images a unit (a unit's rows file and its listing stay small). At 1,000 steps with guidance a unit still holds 15. */
const MAX_UNIT_IMAGES = 5_000;

export function generateUnitImages(generate: { batchSize: number | 'auto'; steps: number; guidance: number }): number {
  if (generate.batchSize !== 'auto') return generate.batchSize;
  const rowsPerImage = generate.steps * (generate.guidance > 1 ? 2 : 1);
  return Math.min(MAX_UNIT_IMAGES, Math.round(UNIT_UNET_ROWS / rowsPerImage));
}

/**
 * Captions a caption unit aims at when `caption.batchSize` is `auto`: 100 images at the paper's 3 captions
 * each, under a second of the demo captioner's work and a few minutes of a 7B captioner's on a GPU.
 */
export const UNIT_CAPTIONS = 300;

export function captionUnitImages(caption: { batchSize: number | 'auto'; perImage: number }): number {
  if (caption.batchSize !== 'auto') return caption.batchSize;
  return Math.max(1, Math.round(UNIT_CAPTIONS / caption.perImage));
}
