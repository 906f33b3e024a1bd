/**
 * SDXL through the product's pipeline against diffusers' StableDiffusionXLPipeline (torch) on a tiny
 * random-weight bundle of the real architecture (tools/make_tiny_sdxl.py): two text encoders, the
 * pooled text embedding and the size/crop conditioning, with and without guidance, zeroed and
 * encoded negative prompts.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { releaseText2Images } from '../../engines/diffusion/pipeline';
import { openBundle } from '../../engines/diffusion/bundle';
import { diffusersReference, FIXTURES, maxAbs } from '../support/diffusion-reference';

const sdxl = diffusersReference('tiny-sdxl-reference');
afterAll(async () => {
  await sdxl.dispose();
  await releaseText2Images();
});

describe('SDXL parity with diffusers (tiny random-weight bundle, float32)', () => {
  it('opens as a two-encoder bundle that zeroes an absent negative prompt', async () => {
    const bundle = await openBundle(join(FIXTURES, 'tiny-sdxl'));
    expect(bundle.second?.textEncoder).toMatch(/text_encoder_2\/model\.onnx$/);
    expect(bundle.forceZerosForEmptyPrompt).toBe(true);
  });

  it('conditions the unet as diffusers does: both encoders\' penultimate states side by side, the pooled projection', async () => {
    const c = sdxl.cases.find((x) => x.name === 'euler-b2-g5-neg')!;
    const m = await sdxl.model(c.bundle);
    const positive = await m.encodePrompts(c.prompts);
    const negative = await m.encodePrompts(c.negativePrompts!);
    // The reference rows are [negatives, positives], as the unet got them at step 0.
    const embeds = sdxl.bin(c.promptEmbeds!);
    const pooled = sdxl.bin(c.textEmbeds!);
    const half = embeds.length / 2;
    expect(maxAbs(negative.embeddings, embeds.subarray(0, half))).toBeLessThan(1e-5);
    expect(maxAbs(positive.embeddings, embeds.subarray(half))).toBeLessThan(1e-5);
    expect(maxAbs(positive.pooled!.data, pooled.subarray(pooled.length / 2))).toBeLessThan(1e-5);
    expect(positive.dims).toEqual([2, 77, 80]);
  });

  for (const c of sdxl.cases) {
    it(`${c.name}`, async () => {
      const { result, raw, pixels } = await sdxl.runCase(c, c.bundle);
      expect(result.timesteps).toEqual(c.timesteps);
      expect(raw).toBeLessThan(1e-3);
      expect(pixels).toBeLessThan(1e-3);
    });
  }
});
