/**
 * Runs a diffusers reference case (tools/make_tiny_sd.py, tools/make_tiny_sdxl.py: the torch
 * pipeline's latents, step noise and decoded images in .bin files) through the product's pipeline
 * with the reference's latents and noise, and measures how far the outputs are.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { Text2Image, type GenerateResult } from '../../engines/diffusion/pipeline';
import type { SchedulerKind } from '../../engines/diffusion/schedulers';

export const FIXTURES = join(__dirname, '..', 'fixtures');

export interface ReferenceCase {
  name: string;
  bundle: string;
  scheduler: SchedulerKind;
  schedulerConfig?: Record<string, unknown>;
  prompts: string[];
  negativePrompts?: string[] | null;
  guidance: number;
  steps: number;
  height?: number;
  width?: number;
  latents: string;
  latentsShape: [number, number, number, number];
  noise?: string;
  decoded: string;
  decodedShape: [number, number, number, number];
  timesteps: number[];
  inputIds: number[][];
  negativeInputIds: number[][];
  untruncatedLengths: number[];
  /** SDXL cases: what the unet was given at step 0. */
  originalSize?: [number, number];
  cropsCoordsTopLeft?: [number, number];
  targetSize?: [number, number];
  promptEmbeds?: string;
  textEmbeds?: string;
  timeIds?: number[][];
}

export function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A reference folder's cases, its .bin reader, and a runner that keeps one Text2Image per bundle. */
export function diffusersReference(folder: string) {
  const dir = join(FIXTURES, folder);
  const cases = (JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as { cases: ReferenceCase[] }).cases;
  const bin = (file: string): Float32Array => {
    const b = readFileSync(join(dir, file));
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  };
  const models = new Map<string, Text2Image>();
  const model = async (bundle: string): Promise<Text2Image> => {
    let m = models.get(bundle);
    if (!m) {
      m = await Text2Image.create(join(FIXTURES, bundle), { intraOpThreads: 1 });
      models.set(bundle, m);
    }
    return m;
  };
  /** Runs case `c` on `bundle`: the reference's latents and noise, our everything else. */
  const runCase = async (c: ReferenceCase, bundle: string): Promise<{ result: GenerateResult; raw: number; pixels: number }> => {
    const [B, C, h, w] = c.latentsShape;
    const size = C * h * w;
    const latents = bin(c.latents);
    const noise = c.noise ? bin(c.noise) : undefined;
    const m = await model(bundle);
    const result = await m.generate({
      prompts: c.prompts, negativePrompts: c.negativePrompts ?? undefined, steps: c.steps, guidance: c.guidance,
      height: c.height ?? 64, width: c.width ?? 64, scheduler: c.scheduler, schedulerConfig: c.schedulerConfig ?? {}, png: false,
      ...(c.originalSize || c.cropsCoordsTopLeft || c.targetSize ? { sizeConditioning: { originalSize: c.originalSize, cropTopLeft: c.cropsCoordsTopLeft, targetSize: c.targetSize } } : {}),
      latents: Array.from({ length: B }, (_, i) => latents.slice(i * size, (i + 1) * size)),
      noise: (step, image, n) => {
        if (!noise) throw new Error('this case has no noise');
        return noise.slice((step * B + image) * n, (step * B + image + 1) * n);
      },
    });
    const decoded = bin(c.decoded);
    const per = decoded.length / B;
    let raw = 0;
    let pixels = 0;
    result.images.forEach((im, i) => {
      const ref = decoded.subarray(i * per, (i + 1) * per);
      raw = Math.max(raw, maxAbs(im.decoded, ref));
      // The pipeline's output_type="np" image: clamp(raw / 2 + 0.5), HWC.
      const [, , H, W] = c.decodedShape;
      const refPixels = new Float32Array(per);
      for (let ch = 0; ch < 3; ch++) for (let p = 0; p < H * W; p++) refPixels[p * 3 + ch] = Math.min(1, Math.max(0, ref[ch * H * W + p]! / 2 + 0.5));
      pixels = Math.max(pixels, maxAbs(im.pixels, refPixels));
    });
    return { result, raw, pixels };
  };
  const dispose = () => Promise.all([...models.values()].map((m) => m.dispose()));
  return { cases, bin, model, runCase, dispose };
}
