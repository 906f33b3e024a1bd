import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedS3, type EmbeddedS3 } from '../../cli/stack/s3-server';
import type { Manifest } from '../../stages/runner/manifest';
import { runStageUnit, stageDir, type StageHooks } from '../../stages/runner/stage-runner';
import { ArtifactStore } from '../../core/store';
import { bundleCacheDir } from '../../core/bundle-store';
import { openBundle } from '../../engines/diffusion/bundle';
import { releaseText2Images } from '../../engines/diffusion/pipeline';
import { makeGenerateBatchEngine } from '../../stages/generate-batch';
import { GENERATED_ROWS_FILE, type GeneratedRow } from '../../stages/generated-rows';
import { BadInputError } from '../../core/errors';
import type { GenerateBatchInput } from '../../stages/contracts';
import type { StageProgress } from '../../stages/context';
import type { Caption } from '../../engines/text/caption-filter';
import { artifactKey } from '../../stages/artifacts';
import { KEPT_CAPTIONS } from '../../stages/filter-captions';

const BUNDLE = join(__dirname, '..', 'fixtures', 'tiny-sd');
let root: string;
let s3: EmbeddedS3;
let store: ArtifactStore;
const keptKey = artifactKey(KEPT_CAPTIONS, 'runs/g1/filterCaptions/filter/0123456789ab/kept.json');
const kept: Caption[] = [
  { text: 'a red digit seven', label: 7, image: 'cmnist/1pct/conflict/7/1.png' },
  { text: 'a photo of the number two in green', label: 2, image: 'cmnist/1pct/conflict/2/5.png' },
  { text: 'blue handwritten nine', label: 9, image: 'cmnist/1pct/align/9/3.png' },
];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'generate-engine-'));
  s3 = await startEmbeddedS3({ directory: join(root, 's3'), bucket: 'engines' });
  store = new ArtifactStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'engines', prefix: '', credentials: s3.credentials });
  await store.putJson(keptKey, kept);
  await store.putJson('runs/g1/filterCaptions/filter/empty/kept.json', []);
});
afterAll(async () => {
  await releaseText2Images();
  store.destroy();
  await s3.close();
  rmSync(root, { recursive: true, force: true });
});

const engine = () => makeGenerateBatchEngine({ microBatch: 3, intraOpThreads: 1, cacheRoot: join(root, 'cache') });
const input = (over: Partial<GenerateBatchInput> = {}): GenerateBatchInput => ({
  experimentId: 'g1', keptKey, batchIndex: 1, first: 5, count: 4, baseSeed: 1000, model: 'test/fixtures/tiny-sd', steps: 2, guidance: 7.5, ...over,
});

function run(i: GenerateBatchInput, hooks: Partial<StageHooks> = {}) {
  const e = engine();
  return runStageUnit(store, { experimentId: i.experimentId, stage: 'generateBatch', version: 1, unit: `batch-${i.batchIndex}`, inputs: i }, { progress() {}, ...hooks }, (ctx) => e(i, ctx));
}

async function imagesOf(manifestKey: string): Promise<Map<string, Buffer>> {
  const manifest = (await store.getJson<Manifest>(manifestKey))!;
  const out = new Map<string, Buffer>();
  for (const f of manifest.files) if (f.key.endsWith('.png')) out.set(f.key, (await store.get(f.key))!);
  return out;
}

describe('generateBatch engine', () => {
  it('generate.scheduler reaches the sampler: the bundle\'s by default, another by name', async () => {
    const pixels = async (i: GenerateBatchInput) => [...(await imagesOf((await run(i)).manifestKey)).values()];
    const bundles = await pixels(input({ experimentId: 's-bundle', count: 2 }));
    // The tiny bundle's scheduler is DDIM: naming it changes the unit's key, not its images.
    expect(await pixels(input({ experimentId: 's-ddim', count: 2, scheduler: 'ddim' }))).toEqual(bundles);
    expect(await pixels(input({ experimentId: 's-euler', count: 2, scheduler: 'euler' }))).not.toEqual(bundles);
  });

  it('writes images/<i>.png and rows.json for images [first, first + count), and a retry writes the same keys and bytes', async () => {
    const progress: StageProgress[] = [];
    const first = await run(input(), { progress: (p) => progress.push(p) });
    expect(first.cached).toBe(false);
    expect(first.outputs).toEqual({ images: 4, modelSeconds: expect.any(Number) });
    expect(first.outputs.modelSeconds).toBeGreaterThan(0);
    const dir = stageDir({ experimentId: 'g1', stage: 'generateBatch', version: 1, unit: 'batch-1', inputs: input() });
    const manifest = (await store.getJson<Manifest>(first.manifestKey))!;
    expect(manifest.files.map((f) => f.key)).toEqual([
      `${dir}/images/000005.png`, `${dir}/images/000006.png`, `${dir}/images/000007.png`, `${dir}/images/000008.png`, `${dir}/rows.json`,
    ]);
    const rows = (await store.getJson<GeneratedRow[]>(`${dir}/${GENERATED_ROWS_FILE}`))!;
    expect(rows).toEqual([5, 6, 7, 8].map((i) => ({
      key: `${dir}/images/${String(i).padStart(6, '0')}.png`, label: kept[i % 3]!.label, prompt: kept[i % 3]!.text, seed: 1000 + i, source: kept[i % 3]!.image,
    })));
    const meta = await sharp((await store.get(rows[0]!.key))!).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 64]);
    expect(progress.filter((p) => p.step === undefined)).toEqual([1, 2, 3, 4].map((done) => ({ done, total: 4 })));
    expect(progress.some((p) => p.step === 2)).toBe(true);
    const images = await imagesOf(first.manifestKey);

    // The same unit again: the stored output is reused.
    expect((await run(input())).cached).toBe(true);

    // A retried attempt (no manifest yet): the same keys with the same bytes.
    await rmManifest(first.manifestKey);
    const retry = await run(input());
    expect(retry.cached).toBe(false);
    expect(retry.manifestKey).toBe(first.manifestKey);
    expect(await imagesOf(retry.manifestKey)).toEqual(images);

    // A retry resuming after 3 images lists those again instead of regenerating them.
    await rmManifest(first.manifestKey);
    const logs: string[] = [];
    const resumed = await run(input(), { resume: { done: 3, total: 4 }, log: (m) => logs.push(m) });
    expect(logs).toContain('reusing 3 images of a previous attempt');
    expect(await imagesOf(resumed.manifestKey)).toEqual(images);

    // Image 6 generated alone (another batch) is the same image.
    const alone = await run(input({ batchIndex: 9, first: 6, count: 1 }));
    const [only] = [...(await imagesOf(alone.manifestKey)).values()];
    expect(only!.equals(images.get(`${dir}/images/000006.png`)!)).toBe(true);
  });

  it("crops to the bundle's declared content area (diffubias.json), and a crop that does not fit fails naming that file", async () => {
    const whole = await run(input({ batchIndex: 7, count: 2 }));
    const cropped = join(root, 'tiny-sd-cropped');
    cpSync(BUNDLE, cropped, { recursive: true });
    writeFileSync(join(cropped, 'diffubias.json'), JSON.stringify({ crop: { left: 8, top: 4, width: 48, height: 40 } }));
    const out = await run(input({ batchIndex: 8, count: 2, model: cropped }));
    const [a, b] = [[...(await imagesOf(whole.manifestKey)).values()], [...(await imagesOf(out.manifestKey)).values()]];
    for (const [i, png] of b.entries()) {
      expect(await sharp(png).metadata()).toMatchObject({ width: 48, height: 40 });
      const expected = await sharp(a[i]!).extract({ left: 8, top: 4, width: 48, height: 40 }).raw().toBuffer();
      expect((await sharp(png).raw().toBuffer()).equals(expected)).toBe(true);
    }

    const tooBig = join(root, 'tiny-sd-crop-too-big');
    cpSync(BUNDLE, tooBig, { recursive: true });
    writeFileSync(join(tooBig, 'diffubias.json'), JSON.stringify({ crop: { left: 8, top: 4, width: 64, height: 40 } }));
    await expect(run(input({ batchIndex: 9, count: 1, model: tooBig }))).rejects.toThrow(/diffubias\.json.*does not fit a generated 64x64 image/);
    writeFileSync(join(tooBig, 'diffubias.json'), JSON.stringify({ crop: { left: -1, top: 0, width: 8, height: 8 } }));
    await expect(openBundle(tooBig)).rejects.toThrow(/diffubias\.json.*crop: expected \{left, top, width, height\}/);
  });

  it('an empty kept list fails naming keptKey', async () => {
    const emptyKey = artifactKey(KEPT_CAPTIONS, 'runs/g1/filterCaptions/filter/empty/kept.json');
    const err = await run(input({ keptKey: emptyKey, batchIndex: 2 })).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BadInputError);
    expect((err as BadInputError).where).toBe(store.uri(emptyKey));
  });

  it('reads a bundle from an s3:// prefix, synced once into the cache, with the same images', async () => {
    await upload(BUNDLE, 'models/tiny-sd/');
    const uri = 's3://engines/models/tiny-sd';
    const logs: string[] = [];
    const local = await run(input({ batchIndex: 3, first: 0, count: 2 }));
    const remote = await run(input({ batchIndex: 3, first: 0, count: 2, model: uri }), { log: (m) => logs.push(m) });
    expect([...(await imagesOf(remote.manifestKey)).values()]).toEqual([...(await imagesOf(local.manifestKey)).values()]);
    const cache = bundleCacheDir(uri, store.settings, join(root, 'cache'));
    expect(existsSync(join(cache, '.diffubias-bundle.json'))).toBe(true);
    expect(existsSync(join(cache, 'unet/model.onnx'))).toBe(true);
    expect(logs.filter((l) => l.startsWith('synced '))).toHaveLength(1);
    // Opened again (another worker process): the verified cache is used as is.
    const again: string[] = [];
    const bundle = await openBundle(uri, { s3: store.settings, cacheRoot: join(root, 'cache'), log: (m) => again.push(m) });
    expect(bundle.root).toBe(cache);
    expect(bundle.describe('unet/model.onnx')).toBe(`${uri}/unet/model.onnx`);
    expect(again).toEqual([]);
  });

  it('an s3:// bundle missing its unet fails naming the s3 key', async () => {
    await upload(BUNDLE, 'models/broken/', (path) => path !== 'unet/model.onnx');
    const err = await run(input({ batchIndex: 4, count: 1, model: 's3://engines/models/broken' })).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BadInputError);
    expect((err as BadInputError).where).toBe('s3://engines/models/broken/unet/model.onnx');
  });
});

async function rmManifest(key: string): Promise<void> {
  await store.client.send(new DeleteObjectCommand({ Bucket: 'engines', Key: key }));
}

async function upload(dir: string, prefix: string, keep: (path: string) => boolean = () => true): Promise<void> {
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/');
    if (keep(path)) await store.put(prefix + path, readFileSync(join(dir, path)));
  }
}
