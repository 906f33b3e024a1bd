import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactStore } from '../../core/store';
import { BadInputError } from '../../core/errors';
import { startEmbeddedS3 } from '../../cli/stack/s3-server';
import { buildColoredMnist, type BuildSummary } from '../../datasets/cmnist/build';
import { CMNIST_COLORS } from '../../datasets/cmnist/colors';
import { mnistFiles, readIdxImages, readIdxLabels, loadMnistLabels } from '../../datasets/cmnist/idx';
import { planColoredMnist, type ColoredMnistPlan } from '../../datasets/cmnist/plan';
import { LFF_PALETTE, planLffColoredMnist } from '../../datasets/cmnist/lff-plan';

const RATIOS = [0.5, 1, 2, 5];
// Labels are read once: planning is then pure computation, and each plan takes well under a second.
const labels = { train: loadMnistLabels('train'), test: loadMnistLabels('test') };
const plan = (seed: number, ratios = RATIOS): ColoredMnistPlan => planColoredMnist({ ratios, seed, labels });

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)).split('\\').join('/'))
    .sort();
}

async function checksums(root: string): Promise<Map<string, string>> {
  const sums = new Map<string, string>();
  for (const f of await filesUnder(root)) {
    sums.set(f, createHash('sha256').update(await readFile(join(root, f))).digest('hex'));
  }
  return sums;
}

describe('Colored MNIST plan', () => {
  const p = plan(0);

  it('has the paper Table 5 train counts for every ratio', () => {
    expect(p.perRatio.map((r) => [r.dir, r.counts.aligned, r.counts.conflicting])).toEqual([
      ['0.5pct', 54729, 271],
      ['1pct', 54454, 546],
      ['2pct', 53904, 1096],
      ['5pct', 52254, 2746],
    ]);
    for (const r of p.perRatio) {
      const conflicting = r.train.filter((im) => im.bias !== im.label).length;
      expect(conflicting).toBe(r.counts.conflicting);
    }
  });

  it('uses the 55,000/5,000/10,000 split, with unbiased valid and test', () => {
    expect(p.perRatio.every((r) => r.train.length === 55_000)).toBe(true);
    expect(p.valid).toHaveLength(5_000);
    expect(p.test).toHaveLength(10_000);
    expect(p.splitOf.filter((s) => s === 'valid')).toHaveLength(5_000);
    // Train and valid partition MNIST train: no image is in both.
    const trainSources = new Set(p.perRatio[0]!.train.map((im) => im.source));
    expect(p.valid.some((im) => trainSources.has(im.source))).toBe(false);
    const share = p.testCounts.aligned / p.test.length;
    expect(share).toBeGreaterThan(0.08);
    expect(share).toBeLessThan(0.12);
  });

  it('perturbs each color by gaussian noise of sigma 0.02 x 255, clipped to 0..255', () => {
    let worst = 0;
    let sumSq = 0;
    let n = 0;
    for (const im of [...p.perRatio[3]!.train, ...p.test]) {
      const base = CMNIST_COLORS[im.bias]!.rgb;
      for (let c = 0; c < 3; c++) {
        const v = im.rgb[c]!;
        const d = v - base[c]!;
        if (!Number.isInteger(v) || v < 0 || v > 255) throw new Error(`channel ${c} of ${JSON.stringify(im)} is not a byte`);
        worst = Math.max(worst, Math.abs(d));
        // Channels whose base is far from 0 and 255 are never clipped, so their spread is the raw sigma.
        if (base[c]! >= 40 && base[c]! <= 215) {
          sumSq += d * d;
          n++;
        }
      }
    }
    expect(worst).toBeLessThanOrEqual(40);
    expect(Math.sqrt(sumSq / n)).toBeCloseTo(5.1, 0);
  });

  it('depends on the seed alone', () => {
    expect(plan(0)).toEqual(p);
    const other = plan(1);
    expect(other.splitOf).not.toEqual(p.splitOf);
    expect(other.test).not.toEqual(p.test);
    // A ratio's images do not depend on which other ratios are planned with it.
    expect(plan(0, [2]).perRatio[0]).toEqual(p.perRatio[2]);
  });

  it('rejects bad ratios and seeds', () => {
    expect(() => plan(0, [])).toThrow(BadInputError);
    expect(() => plan(0, [1, 1])).toThrow(BadInputError);
    expect(() => plan(0, [150])).toThrow(BadInputError);
    expect(() => plan(0.5)).toThrow(BadInputError);
  });
});

describe('IDX reader', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cmnist-idx-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names the file when the magic or the size is wrong', async () => {
    const truncated = join(dir, 'truncated-images');
    const header = Buffer.from([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28]);
    await writeFile(truncated, Buffer.concat([header, Buffer.alloc(28 * 28)]));
    expect(() => readIdxImages(truncated)).toThrow(new BadInputError(truncated, '800 bytes, expected 1584 for 2 images of 28x28'));
    const swapped = join(dir, 'labels-as-images');
    await writeFile(swapped, Buffer.from([0, 0, 8, 1, 0, 0, 0, 1, 7]));
    expect(() => readIdxImages(swapped)).toThrow(/labels-as-images: not an IDX image file/);
    expect(readIdxLabels(swapped)).toEqual(new Uint8Array([7]));
  });
});

describe('Colored MNIST build', () => {
  const LIMIT = 30;
  let dirA: string;
  let dirB: string;
  let summary: BuildSummary;

  beforeAll(async () => {
    dirA = await mkdtemp(join(tmpdir(), 'cmnist-a-'));
    dirB = await mkdtemp(join(tmpdir(), 'cmnist-b-'));
    summary = await buildColoredMnist({ out: dirA, ratios: RATIOS, seed: 7, limit: LIMIT });
    await buildColoredMnist({ out: dirB, ratios: RATIOS, seed: 7, limit: LIMIT });
  });
  afterAll(async () => {
    await rm(dirA, { recursive: true, force: true });
    await rm(dirB, { recursive: true, force: true });
  });

  it('writes byte-identical files for the same seed, in the DisEnt layout, marker last', async () => {
    const a = await checksums(dirA);
    const b = await checksums(dirB);
    expect([...a.entries()]).toEqual([...b.entries()]);

    const files = [...a.keys()];
    expect(files).toContain('cmnist/BUILD.json');
    expect(files.some((f) => f.endsWith('.tmp'))).toBe(false);
    const pngs = files.filter((f) => f !== 'cmnist/BUILD.json');
    expect(pngs).toHaveLength(LIMIT * (RATIOS.length + 2));
    expect(summary.filesWritten).toBe(pngs.length + 1);

    const expected = plan(7);
    const splits = [...expected.perRatio.map((r) => ({ dir: r.dir, images: r.train })), { dir: 'valid', images: expected.valid }, { dir: 'test', images: expected.test }];
    const names = splits.flatMap(({ dir, images }) =>
      images.slice(0, LIMIT).map((im, idx) => `cmnist/${dir}/${im.bias === im.label ? 'align' : 'conflict'}/${im.label}/${idx}_${im.label}_${im.bias}.png`),
    );
    expect(pngs).toEqual([...names].sort());
    for (const f of pngs) {
      expect(f).toMatch(/^cmnist\/(0\.5pct|1pct|2pct|5pct|valid|test)\/(align|conflict)\/\d\/\d+_\d_\d\.png$/);
    }

    const marker = JSON.parse(await readFile(join(dirA, 'cmnist/BUILD.json'), 'utf8')) as {
      seed: number;
      counts: { train: Record<string, { aligned: number; conflicting: number }> };
    };
    expect(marker.seed).toBe(7);
    // Counts are those of the full plan even though `limit` cut the files written.
    expect(marker.counts.train['1pct']).toEqual({ aligned: 54454, conflicting: 546 });
    expect(summary.ratios.map((r) => r.conflicting)).toEqual([271, 546, 1096, 2746]);
  });

  it('paints a conflicting digit with another color than its own, near the planned rgb', async () => {
    const expected = plan(7);
    const conflicts = (await filesUnder(dirA)).filter((f) => f.includes('/conflict/'));
    expect(conflicts.length).toBeGreaterThan(0);
    for (const f of conflicts) {
      const [idx, label, bias] = f.split('/').at(-1)!.replace('.png', '').split('_').map(Number);
      expect(bias).not.toBe(label);
      if (f.startsWith('cmnist/test/')) expect(expected.test[idx!]!.bias).toBe(bias);
    }

    const testConflict = conflicts.find((f) => f.startsWith('cmnist/test/'))!;
    const idx = Number(testConflict.split('/').at(-1)!.split('_')[0]);
    const planned = expected.test[idx]!;
    const { data, info } = await sharp(join(dirA, testConflict)).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([28, 28, 3]);
    // The brightest stroke pixel carries (almost) the full planned color.
    let best = 0;
    for (let p = 0; p < 28 * 28; p++) {
      if (data[3 * p]! + data[3 * p + 1]! + data[3 * p + 2]! > data[3 * best]! + data[3 * best + 1]! + data[3 * best + 2]!) best = p;
    }
    const brightest = [data[3 * best]!, data[3 * best + 1]!, data[3 * best + 2]!];
    for (let c = 0; c < 3; c++) expect(Math.abs(brightest[c]! - planned.rgb[c]!)).toBeLessThanOrEqual(3);
    // And the background is black.
    expect([data[0], data[1], data[2]]).toEqual([0, 0, 0]);
  });
});

describe('Colored MNIST build, cancelled', () => {
  it('stops between files when its signal aborts, and leaves the ratio marked as building', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cmnist-cancel-'));
    try {
      const controller = new AbortController();
      let written = 0;
      const build = buildColoredMnist({
        out: dir, ratios: [1], seed: 7, limit: 200, concurrency: 2, signal: controller.signal,
        onProgress: (done) => { written = done; if (done === 20) controller.abort(); },
      });
      await expect(build).rejects.toThrow(/abort/i);
      // At most the files in flight when it aborted finish; the next build sees the marker and redoes the ratio.
      expect(written).toBeLessThanOrEqual(22);
      const files = (await readdir(join(dir, 'cmnist'), { recursive: true })).filter((f) => f.endsWith('.png'));
      expect(files.length).toBeLessThanOrEqual(22);
      expect(await readdir(join(dir, 'cmnist', 'building'))).toEqual(['1pct.json']);
      expect(await readdir(join(dir, 'cmnist'))).not.toContain('BUILD.json');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Colored MNIST build to S3', () => {
  it('writes the same layout under the URI prefix, and refuses a store for another bucket', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cmnist-s3-'));
    const s3 = await startEmbeddedS3({ directory: dir, bucket: 'artifacts' });
    const store = new ArtifactStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'artifacts', prefix: 'team/', credentials: s3.credentials });
    try {
      await buildColoredMnist({ out: 's3://artifacts/datasets/', ratios: [1], seed: 7, limit: 2, store });
      const keys = await store.list('datasets/cmnist/');
      expect(keys).toHaveLength(2 * 3 + 1);
      expect(keys).toContain('datasets/cmnist/BUILD.json');
      expect(keys.every((k) => /^datasets\/cmnist\/(1pct|valid|test|BUILD\.json)/.test(k))).toBe(true);
      await expect(buildColoredMnist({ out: 's3://elsewhere/x', ratios: [1], seed: 7, limit: 1, store })).rejects.toThrow(BadInputError);
      await expect(buildColoredMnist({ out: 's3://artifacts/x', ratios: [1], seed: 7, limit: 1 })).rejects.toThrow(BadInputError);
    } finally {
      store.destroy();
      await s3.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("LfF's Colored MNIST (cmnist-lff)", () => {
  const reference = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'lff-cmnist-colours.json'), 'utf8')) as { splits: Record<string, { sha256: string; conflicting: number }> };
  const sha = (colours: readonly number[]) => createHash('sha256').update(Uint8Array.from(colours)).digest('hex');

  it("gives every image the colour LfF's make_attr_labels gives it, at every ratio and on test", () => {
    const lff = planLffColoredMnist({ ratios: RATIOS, seed: 0, labels });
    for (const r of lff.perRatio) {
      const ref = reference.splits[`train${r.ratio}`]!;
      expect(r.train.map((im) => im.source)).toEqual(Array.from({ length: 60_000 }, (_, i) => i));
      expect({ sha256: sha(r.train.map((im) => im.bias)), conflicting: r.counts.conflicting }).toEqual(ref);
    }
    expect({ sha256: sha(lff.test.map((im) => im.bias)), conflicting: lff.testCounts.conflicting }).toEqual(reference.splits.test);
  });

  it('paints clamp(palette + σ noise) per image, σ by severity, and refuses an unknown severity naming it', () => {
    const lff = planLffColoredMnist({ ratios: [1], seed: 0, labels, severity: 1 });
    const deviations = lff.perRatio[0]!.train.slice(0, 2000).flatMap((im) => im.rgb.map((c, k) => c - LFF_PALETTE[im.bias]![k]!));
    const sd = Math.sqrt(deviations.reduce((a, d) => a + d * d, 0) / deviations.length);
    // Severity 1 is σ 0.05; clamping at 1 trims a little of it for the brightest channels.
    expect(sd).toBeGreaterThan(0.04);
    expect(sd).toBeLessThan(0.055);
    expect(lff.valid).toHaveLength(5_000);
    expect(() => planLffColoredMnist({ ratios: [1], seed: 0, labels, severity: 6 })).toThrow(new BadInputError('severity', "must be 1-5 (LfF's), got 6"));
  });

  it("writes cmnist-lff/ with LfF's pixels: floor(intensity x colour)", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cmnist-lff-'));
    try {
      await buildColoredMnist({ out: dir, dataset: 'cmnist-lff', ratios: [1], seed: 0, limit: 3 });
      const marker = JSON.parse(await readFile(join(dir, 'cmnist-lff', 'BUILD.json'), 'utf8')) as { protocol: string; severity: number; splitSizes: object };
      expect(marker).toMatchObject({ severity: 4, splitSizes: { train: 60_000, valid: 5_000, test: 10_000 } });
      const planned = planLffColoredMnist({ ratios: [1], seed: 0, labels }).perRatio[0]!.train[0]!;
      const mnist = readIdxImages(mnistFiles('train').images);
      // LfF's blocks put a class's conflicting colours first: MNIST's first image, a 5, is painted with colour 0.
      expect([planned.label, planned.bias]).toEqual([5, 0]);
      const { data } = await sharp(join(dir, 'cmnist-lff', '1pct', 'conflict', '5', '0_5_0.png')).raw().toBuffer({ resolveWithObject: true });
      for (let p = 0; p < 28 * 28; p++) {
        for (let c = 0; c < 3; c++) expect(data[3 * p + c]).toBe(Math.floor(Math.fround(mnist.pixels[p]! * planned.rgb[c]!)));
      }
      await expect(buildColoredMnist({ out: dir, dataset: 'cmnist', ratios: [1], seed: 0, limit: 1, severity: 4 })).rejects.toThrow(BadInputError);
      await expect(buildColoredMnist({ out: dir, dataset: 'cmnist-lff', ratios: [2], seed: 0, limit: 1, severity: 3 })).rejects.toThrow(/holds severity 4; build severity 3 into another folder/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
