import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedS3, type EmbeddedS3 } from '../../cli/stack/s3-server';
import { ArtifactStore } from '../../core/store';
import { parseDatasetSpec } from '../../datasets/spec-schema';
import { sideStageOf } from '../../stages/activity-table';
import { readArtifact } from '../../stages/artifacts';
import type { DatasetRef, GeneratedManifestKey } from '../../stages/contracts';
import { GENERATED_ROWS_FILE, type GeneratedRow } from '../../stages/generated-rows';
import { DIVERSITY, measureDiversityEngine, type MeasureDiversityInput, type Spread } from '../../stages/measure-diversity';
import { runStageUnit } from '../../stages/runner/stage-runner';

/**
 * The side stage measureDiversity where the answer is known: one shape in two colours (alike),
 * opposite halves (as far apart as shapes get), a lone image (nothing to compare), in the
 * generated set and in the real training images beside it.
 */
let s3: EmbeddedS3;
let store: ArtifactStore;
let dataset: DatasetRef;

type Colour = [number, number, number];
type Part = 'left' | 'right' | 'all';
const red: Colour = [200, 0, 0];
const green: Colour = [0, 120, 0];
const white: Colour = [255, 255, 255];

/** An image of one colour on black: its left half, its right half, or the whole of it. The stage sees each as a shape at 32 px. */
function drawn(part: Part, colour: Colour, size: number): Promise<Buffer> {
  const pixels = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (part === 'left' ? x >= size / 2 : part === 'right' ? x < size / 2 : false) continue;
      pixels.set(colour, 3 * (y * size + x));
    }
  }
  return sharp(pixels, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
}

const CLASSES = ['zero', 'one', 'two'];
/** The real images, an ImageFolder (`<root>/shapes/<split>/<class>/`): per class as the generated ones below, but fewer. */
const REAL: Record<string, [Part, Colour][]> = { zero: [['left', green], ['left', white]], one: [['left', red], ['right', red]], two: [['all', white]] };

beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), 'diversity-'));
  for (const split of ['train', 'valid', 'test']) {
    for (const [name, images] of Object.entries(REAL)) {
      mkdirSync(join(root, 'data', 'shapes', split, name), { recursive: true });
      for (const [i, [part, colour]] of images.entries()) writeFileSync(join(root, 'data', 'shapes', split, name, `${i}.png`), await drawn(part, colour, 28));
    }
  }
  const spec = parseDatasetSpec({ name: 'shapes', classNames: CLASSES, imageSize: 28, layout: 'imagefolder', arch: 'mlp' }, 'test spec');
  dataset = { name: 'shapes', ratio: 1, seed: 0, root: join(root, 'data'), spec };
  s3 = await startEmbeddedS3({ directory: join(root, 's3'), bucket: 'diversity' });
  store = new ArtifactStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'diversity', prefix: '', credentials: s3.credentials });
});
afterAll(async () => {
  store?.destroy();
  await s3?.close();
});

/** A generateBatch unit as the product stores it: PNGs (512 px, a true-size generator's), rows.json, a manifest listing both. */
async function generatedUnit(batch: number, images: { label: number; part: Part; colour: Colour; prompt: string }[]): Promise<GeneratedManifestKey> {
  const done = await runStageUnit(store, { experimentId: 'd', stage: 'generateBatch', version: 1, unit: `batch-${batch}`, inputs: { batch, images } }, { progress() {} }, async (ctx) => {
    const rows: GeneratedRow[] = [];
    for (const [i, image] of images.entries()) {
      const key = await ctx.put(`images/${i}.png`, await drawn(image.part, image.colour, 512), 'image/png');
      rows.push({ key, label: image.label, prompt: image.prompt, seed: i, source: `train/${i}.png` });
    }
    await ctx.putJson(GENERATED_ROWS_FILE, rows);
    return { images: images.length };
  });
  return done.manifestKey as GeneratedManifestKey;
}

/** Resizing smooths the halves' edge a little: "alike" is within the near-duplicate threshold (0.02), "opposite" within 0.02 of 1. */
function expectAlike(spread: Spread, sampled: number): void {
  expect(spread).toMatchObject({ sampled, nearDuplicates: 1 });
  expect(spread.meanDistance).toBeLessThan(0.02);
}
function expectOpposite(spread: Spread, sampled: number): void {
  expect(spread).toMatchObject({ sampled, nearDuplicates: 0 });
  expect(Math.abs(spread.meanDistance! - 1)).toBeLessThan(0.02);
}

describe('measureDiversity (a side stage)', () => {
  it('measures one shape in two colours as alike, opposite halves as 1 apart, a lone image as nothing; real images beside, as many', async () => {
    const manifests = [
      await generatedUnit(0, [
        { label: 0, part: 'left', colour: red, prompt: 'a zero' }, { label: 0, part: 'left', colour: green, prompt: 'a zero' }, { label: 1, part: 'left', colour: white, prompt: 'a one' },
      ]),
      await generatedUnit(1, [
        { label: 0, part: 'left', colour: white, prompt: 'another zero' }, { label: 1, part: 'right', colour: white, prompt: 'a one' }, { label: 2, part: 'all', colour: red, prompt: 'a two' },
      ]),
    ];
    const input: MeasureDiversityInput = { experimentId: 'd', dataset, generatedManifests: manifests, perClass: 100, seed: 0 };
    const done = await runStageUnit(store, { experimentId: 'd', stage: 'measureDiversity', version: 1, unit: 'generated', inputs: input }, { progress() {} }, (ctx) => measureDiversityEngine(input, ctx));
    const [zeros, ones, twos] = (await readArtifact(store, DIVERSITY, done.outputs.diversityKey)).perClass;
    expect([zeros, ones, twos].map((c) => c && { label: c.label, images: c.images, prompts: c.prompts })).toEqual([
      { label: 0, images: 3, prompts: 2 }, { label: 1, images: 2, prompts: 1 }, { label: 2, images: 1, prompts: 1 },
    ]);
    // Generated: zeros alike (3), ones opposite (2), the lone two nothing. Real: zeros alike (all 2 there are), ones opposite.
    expectAlike(zeros!, 3);
    expectAlike(zeros!.real, 2);
    expectOpposite(ones!, 2);
    expectOpposite(ones!.real, 2);
    expect(twos).toMatchObject({ sampled: 1, meanDistance: null, nearDuplicates: null, real: { sampled: 1, meanDistance: null, nearDuplicates: null } });

    // Means over the classes with pairs, by generated images sampled: (3 x zeros + 2 x ones) / 5, and 3 of 5 with a twin.
    const { meanDistance, realMeanDistance } = done.outputs;
    expect(done.outputs).toMatchObject({ sampled: 6, nearDuplicateShare: 0.6 });
    expect(meanDistance).toBeCloseTo((3 * zeros!.meanDistance! + 2 * ones!.meanDistance!) / 5, 10);
    expect(realMeanDistance).toBeCloseTo((3 * zeros!.real.meanDistance! + 2 * ones!.real.meanDistance!) / 5, 10);
    expect(sideStageOf('measureDiversity').describe(done.outputs)).toBe(
      `6 generated images, seen as shapes (32 px), differ from others of their class by ${meanDistance!.toFixed(3)} RMS on average, real training images by ${realMeanDistance!.toFixed(3)} (the generated set has ${Math.round((100 * meanDistance!) / realMeanDistance!)}% of their spread); 60.0% have a near-identical twin`,
    );
  }, 60_000);

  it('samples at most perClass images of each class, the same ones for the same seed', async () => {
    const parts = ['left', 'right', 'all'] as const;
    const images = Array.from({ length: 6 }, (_, i) => ({ label: 0, part: parts[i % 3]!, colour: i < 3 ? red : green, prompt: `p${i}` }));
    const manifests = [await generatedUnit(2, images)];
    // Each run under its own version, so that the second is computed again rather than read back.
    const run = async (seed: number, version: number) => {
      const input: MeasureDiversityInput = { experimentId: 'd', dataset, generatedManifests: manifests, perClass: 3, seed };
      return (await runStageUnit(store, { experimentId: 'd', stage: 'measureDiversity', version, unit: 'generated', inputs: input }, { progress() {} }, (ctx) => measureDiversityEngine(input, ctx))).outputs;
    };
    const first = await run(1, 10);
    expect(first.sampled).toBe(3);
    expect((await run(1, 11)).meanDistance).toBe(first.meanDistance);
    const seeds = await Promise.all([2, 3, 4, 5].map((seed) => run(seed, 12)));
    expect(new Set([first, ...seeds].map((o) => o.meanDistance)).size).toBeGreaterThan(1);
  }, 60_000);
});
