import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedS3, type EmbeddedS3 } from '../../cli/stack/s3-server';
import { ArtifactStore } from '../../core/store';
import { sideStageOf } from '../../stages/activity-table';
import { readArtifact } from '../../stages/artifacts';
import type { GeneratedManifestKey } from '../../stages/contracts';
import { GENERATED_ROWS_FILE, type GeneratedRow } from '../../stages/generated-rows';
import { DIVERSITY, measureDiversityEngine, type ClassDiversity, type MeasureDiversityInput } from '../../stages/measure-diversity';
import { runStageUnit } from '../../stages/runner/stage-runner';

/** The side stage measureDiversity on generated sets whose answer is known: one shape in two colours, opposite halves, a lone image. */
let s3: EmbeddedS3;
let store: ArtifactStore;

beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), 'diversity-'));
  s3 = await startEmbeddedS3({ directory: root, bucket: 'diversity' });
  store = new ArtifactStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'diversity', prefix: '', credentials: s3.credentials });
});
afterAll(async () => {
  store?.destroy();
  await s3?.close();
});

type Colour = [number, number, number];
/**
 * A 512 px image (a true-size generator's) of one colour on black: its left half, its right half,
 * or the whole of it. The stage sees each as a shape at 32 px.
 */
function drawn(part: 'left' | 'right' | 'all', colour: Colour): Promise<Buffer> {
  const size = 512;
  const pixels = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (part === 'left' ? x >= size / 2 : part === 'right' ? x < size / 2 : false) continue;
      pixels.set(colour, 3 * (y * size + x));
    }
  }
  return sharp(pixels, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
}
const red: Colour = [200, 0, 0];
const green: Colour = [0, 120, 0];
const white: Colour = [255, 255, 255];

/** A generateBatch unit as the product stores it: PNGs, rows.json, a manifest listing both. */
async function generatedUnit(batch: number, images: { label: number; part: 'left' | 'right' | 'all'; colour: Colour; prompt: string }[]): Promise<GeneratedManifestKey> {
  const done = await runStageUnit(store, { experimentId: 'd', stage: 'generateBatch', version: 1, unit: `batch-${batch}`, inputs: { batch, images } }, { progress() {} }, async (ctx) => {
    const rows: GeneratedRow[] = [];
    for (const [i, image] of images.entries()) {
      const key = await ctx.put(`images/${i}.png`, await drawn(image.part, image.colour), 'image/png');
      rows.push({ key, label: image.label, prompt: image.prompt, seed: i, source: `train/${i}.png` });
    }
    await ctx.putJson(GENERATED_ROWS_FILE, rows);
    return { images: images.length };
  });
  return done.manifestKey as GeneratedManifestKey;
}

describe('measureDiversity (a side stage)', () => {
  it('measures one shape in two colours as near-duplicates at distance 0, opposite halves as 1 apart, and a lone image as nothing', async () => {
    const manifests = [
      await generatedUnit(0, [
        { label: 0, part: 'left', colour: red, prompt: 'a zero' }, { label: 0, part: 'left', colour: green, prompt: 'a zero' }, { label: 1, part: 'left', colour: white, prompt: 'a one' },
      ]),
      await generatedUnit(1, [
        { label: 0, part: 'left', colour: white, prompt: 'another zero' }, { label: 1, part: 'right', colour: white, prompt: 'a one' }, { label: 2, part: 'all', colour: red, prompt: 'a two' },
      ]),
    ];
    const input: MeasureDiversityInput = { experimentId: 'd', generatedManifests: manifests, perClass: 100, seed: 0 };
    const done = await runStageUnit(store, { experimentId: 'd', stage: 'measureDiversity', version: 1, unit: 'generated', inputs: input }, { progress() {} }, (ctx) => measureDiversityEngine(input, ctx));
    const diversity = await readArtifact(store, DIVERSITY, done.outputs.diversityKey);
    // Resizing 512 px to 32 smooths the halves' edge a little, so "the same" is within the
    // near-duplicate threshold (0.02) and "opposite" within 0.02 of 1.
    expect(diversity.perClass).toEqual([
      { label: 0, images: 3, prompts: 2, sampled: 3, meanDistance: expect.any(Number), nearDuplicates: 1 },
      { label: 1, images: 2, prompts: 1, sampled: 2, meanDistance: expect.any(Number), nearDuplicates: 0 },
      { label: 2, images: 1, prompts: 1, sampled: 1, meanDistance: null, nearDuplicates: null },
    ]);
    const [zeros, ones] = diversity.perClass as [ClassDiversity, ClassDiversity];
    expect(zeros.meanDistance).toBeLessThan(0.02);
    expect(Math.abs(ones.meanDistance! - 1)).toBeLessThan(0.02);
    // Means over the classes with pairs, by images sampled: (3 x zeros + 2 x ones) / 5, and 3 of 5 with a twin.
    expect(done.outputs).toMatchObject({ sampled: 6, nearDuplicateShare: 0.6 });
    expect(done.outputs.meanDistance).toBeCloseTo((3 * zeros.meanDistance! + 2 * ones.meanDistance!) / 5, 10);
    expect(sideStageOf('measureDiversity').describe(done.outputs)).toBe(
      `6 generated images, seen as shapes (32 px), differ from others of their class by ${done.outputs.meanDistance!.toFixed(3)} RMS on average; 60.0% have a near-identical twin`,
    );
  }, 60_000);

  it('samples at most perClass images of each class, the same ones for the same seed', async () => {
    const parts = ['left', 'right', 'all'] as const;
    const images = Array.from({ length: 6 }, (_, i) => ({ label: 0, part: parts[i % 3]!, colour: i < 3 ? red : green, prompt: `p${i}` }));
    const manifests = [await generatedUnit(2, images)];
    // Each run under its own version, so that the second is computed again rather than read back.
    const run = async (seed: number, version: number) => {
      const input: MeasureDiversityInput = { experimentId: 'd', generatedManifests: manifests, perClass: 3, seed };
      return (await runStageUnit(store, { experimentId: 'd', stage: 'measureDiversity', version, unit: 'generated', inputs: input }, { progress() {} }, (ctx) => measureDiversityEngine(input, ctx))).outputs;
    };
    const first = await run(1, 10);
    expect(first.sampled).toBe(3);
    expect((await run(1, 11)).meanDistance).toBe(first.meanDistance);
    const seeds = await Promise.all([2, 3, 4, 5].map((seed) => run(seed, 12)));
    expect(new Set([first, ...seeds].map((o) => o.meanDistance)).size).toBeGreaterThan(1);
  }, 60_000);
});
