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
import { DIVERSITY, measureDiversityEngine, type MeasureDiversityInput } from '../../stages/measure-diversity';
import { runStageUnit } from '../../stages/runner/stage-runner';

/** The side stage measureDiversity on generated sets whose answer is known: copies, opposites, a lone image. */
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

const plain = (v: number, size = 28) => sharp({ create: { width: size, height: size, channels: 3, background: { r: v, g: v, b: v } } }).png().toBuffer();

/** A generateBatch unit as the product stores it: PNGs, rows.json, a manifest listing both. */
async function generatedUnit(batch: number, images: { label: number; grey: number; prompt: string }[]): Promise<GeneratedManifestKey> {
  const done = await runStageUnit(store, { experimentId: 'd', stage: 'generateBatch', version: 1, unit: `batch-${batch}`, inputs: { batch, images } }, { progress() {} }, async (ctx) => {
    const rows: GeneratedRow[] = [];
    for (const [i, image] of images.entries()) {
      // 512 px, as a true-size generator writes them: the stage compares them at 32.
      const key = await ctx.put(`images/${i}.png`, await plain(image.grey, 512), 'image/png');
      rows.push({ key, label: image.label, prompt: image.prompt, seed: i, source: `train/${i}.png` });
    }
    await ctx.putJson(GENERATED_ROWS_FILE, rows);
    return { images: images.length };
  });
  return done.manifestKey as GeneratedManifestKey;
}

describe('measureDiversity (a side stage)', () => {
  it('measures copies as near-duplicates at distance 0, black and white as 1 apart, and a lone image as nothing', async () => {
    const manifests = [
      await generatedUnit(0, [{ label: 0, grey: 90, prompt: 'a zero' }, { label: 0, grey: 90, prompt: 'a zero' }, { label: 1, grey: 0, prompt: 'a one' }]),
      await generatedUnit(1, [{ label: 0, grey: 90, prompt: 'another zero' }, { label: 1, grey: 255, prompt: 'a one' }, { label: 2, grey: 40, prompt: 'a two' }]),
    ];
    const input: MeasureDiversityInput = { experimentId: 'd', generatedManifests: manifests, perClass: 100, seed: 0 };
    const done = await runStageUnit(store, { experimentId: 'd', stage: 'measureDiversity', version: 1, unit: 'generated', inputs: input }, { progress() {} }, (ctx) => measureDiversityEngine(input, ctx));
    const diversity = await readArtifact(store, DIVERSITY, done.outputs.diversityKey);
    expect(diversity.perClass).toEqual([
      { label: 0, images: 3, prompts: 2, sampled: 3, meanDistance: 0, nearDuplicates: 1 },
      { label: 1, images: 2, prompts: 1, sampled: 2, meanDistance: expect.closeTo(1, 6), nearDuplicates: 0 },
      { label: 2, images: 1, prompts: 1, sampled: 1, meanDistance: null, nearDuplicates: null },
    ]);
    // Means over the classes with pairs, by images sampled: (3 x 0 + 2 x 1) / 5 and (3 x 1 + 2 x 0) / 5.
    expect(done.outputs).toMatchObject({ sampled: 6, meanDistance: expect.closeTo(0.4, 6), nearDuplicateShare: 0.6 });
    expect(sideStageOf('measureDiversity').describe(done.outputs)).toBe(
      '6 generated images (greyscale, 32 px) differ from others of their class by 0.400 RMS on average; 60.0% have a near-identical twin',
    );
  }, 60_000);

  it('samples at most perClass images of each class, the same ones for the same seed', async () => {
    const images = Array.from({ length: 6 }, (_, i) => ({ label: 0, grey: 40 * i, prompt: `p${i}` }));
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
