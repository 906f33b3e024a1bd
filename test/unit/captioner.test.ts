import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedS3, type EmbeddedS3 } from '../../cli/stack/s3-server';
import { runStageUnit } from '../../stages/runner/stage-runner';
import { ArtifactStore } from '../../core/store';
import { captionThroughput } from '../../engines/captioner/bench';
import { Captioner, clearCaptioners, decodeImage, loadCaptioner, type CaptionImage } from '../../engines/captioner/captioner';
import sharp from 'sharp';
import { resolveBundle } from '../../core/bundle-store';
import { CAPTIONS, captionImageEngine } from '../../stages/caption-image';
import { artifactKey, readArtifact } from '../../stages/artifacts';
import { BadInputError } from '../../core/errors';
import type { CaptionFile } from '../../stages/contracts';
import type { CaptionImageInput } from '../../stages/contracts';

/** Written by tools/make_tiny_captioner.py together with the bundle. */
interface Reference {
  max_new_tokens: number;
  num_beams: number;
  images: { file: string; greedy: { ids: number[]; text: string }; beam: { ids: number[]; text: string }[] }[];
}

const BUNDLE = join(__dirname, '..', 'fixtures', 'tiny-captioner');
const reference = JSON.parse(readFileSync(join(BUNDLE, 'reference.json'), 'utf8')) as Reference;
const images: CaptionImage[] = reference.images.map((r) => ({ bytes: readFileSync(join(BUNDLE, r.file)), name: join(BUNDLE, r.file) }));

let tmp: string;
let captioner: Captioner;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'captioner-'));
  process.env.DIFFUBIAS_HOME = join(tmp, 'home');
  captioner = await loadCaptioner(BUNDLE);
});
afterAll(async () => {
  await clearCaptioners();
  delete process.env.DIFFUBIAS_HOME;
  rmSync(tmp, { recursive: true, force: true });
});

async function badInput(promise: Promise<unknown>): Promise<BadInputError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(BadInputError);
  return err as BadInputError;
}

describe('captioner on the tiny vit-gpt2 bundle', () => {
  it('greedy captions equal the Python transformers reference token for token (8 images, one batch)', async () => {
    const results = await captioner.caption(images, { strategy: 'greedy', maxNewTokens: reference.max_new_tokens });
    expect(results.map((r) => r.tokens[0])).toEqual(reference.images.map((r) => r.greedy.ids.slice(1)));
    expect(results.map((r) => r.captions[0])).toEqual(reference.images.map((r) => r.greedy.text));
  });

  it('beam search returns the same 3 sequences as Python generate(num_beams=3, num_return_sequences=3)', async () => {
    const results = await captioner.caption(images, { strategy: 'beam', perImage: 3, numBeams: reference.num_beams, maxNewTokens: reference.max_new_tokens, batchSize: 3 });
    expect(results.map((r) => r.tokens)).toEqual(reference.images.map((r) => r.beam.map((b) => b.ids.slice(1))));
    expect(results.map((r) => r.captions)).toEqual(reference.images.map((r) => r.beam.map((b) => b.text)));
  });

  it('gives three captions per image by default (beam search), and as many as asked', async () => {
    const [three] = await captioner.caption(images.slice(0, 1));
    expect(three!.captions).toHaveLength(3);
    expect(three!.scores[0]).toBeGreaterThanOrEqual(three!.scores[2]!);
    const [five] = await captioner.caption(images.slice(0, 1), { perImage: 5 });
    expect(five!.captions).toHaveLength(5);
  });

  it('sampling is reproducible: the same seed gives the same captions, whatever the batch', async () => {
    const a = await captioner.caption(images.slice(0, 4), { strategy: 'sample', perImage: 3, seed: 11 });
    const b = await captioner.caption(images.slice(0, 2), { strategy: 'sample', perImage: 3, seed: 11 });
    const c = await captioner.caption(images.slice(0, 2), { strategy: 'sample', perImage: 3, seed: 12 });
    expect(a[0]!.captions).toHaveLength(3);
    expect(b.map((r) => r.tokens)).toEqual(a.slice(0, 2).map((r) => r.tokens));
    expect(c.map((r) => r.tokens)).not.toEqual(b.map((r) => r.tokens));
    // Three draws of one image differ from each other.
    expect(new Set(a[0]!.tokens.map((t) => t.join(','))).size).toBeGreaterThan(1);
  });

  it('an unreadable image is bad input naming the image', async () => {
    const err = await badInput(captioner.caption([images[0]!, { bytes: Buffer.from('not a png'), name: '/data/broken.png' }]));
    expect(err.where).toBe('/data/broken.png');
  });

  it('a missing bundle file is bad input naming the file', async () => {
    for (const file of ['onnx/decoder_model_merged.onnx', 'tokenizer.json', 'config.json']) {
      const copy = join(tmp, `bundle-without-${file.replace(/\W/g, '-')}`);
      cpSync(BUNDLE, copy, { recursive: true });
      rmSync(join(copy, file));
      const err = await badInput(loadCaptioner(copy));
      expect(err.where).toBe(join(copy, file));
    }
    expect((await badInput(loadCaptioner(join(tmp, 'no-such-bundle')))).where).toBe(join(tmp, 'no-such-bundle'));
  });

  it('a file transformers.js cannot find (another family) is bad input naming it', async () => {
    const copy = join(tmp, 'florence-without-onnx');
    cpSync(BUNDLE, copy, { recursive: true });
    rmSync(join(copy, 'onnx'), { recursive: true });
    writeFileSync(join(copy, 'config.json'), JSON.stringify({
      model_type: 'florence2', is_encoder_decoder: true, vision_config: { model_type: 'davit' },
      text_config: { model_type: 'florence2_language', d_model: 32, encoder_layers: 1, decoder_layers: 1, encoder_attention_heads: 2, decoder_attention_heads: 2, vocab_size: 272 },
    }));
    const err = await badInput(loadCaptioner(copy));
    expect(err.where).toMatch(new RegExp(`^${join(copy, 'onnx')}/\\w+\\.onnx$`));
  });

  it('caption.tiny benchmark runs', async () => {
    const result = await captionThroughput(BUNDLE, { images: 8, batch: 4 });
    expect(result.images_per_s).toBeGreaterThan(0);
    expect(result).toMatchObject({ images: 8, per_image: 3, strategy: 'beam', model_type: 'vision-encoder-decoder' });
  });
});

describe('captionImage engine with an embedded S3', () => {
  let s3: EmbeddedS3;
  let store: ArtifactStore;

  beforeAll(async () => {
    s3 = await startEmbeddedS3({ directory: join(tmp, 's3'), bucket: 'engines' });
    store = new ArtifactStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'engines', prefix: '', credentials: s3.credentials });
    const files = readdirSync(BUNDLE, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && !e.parentPath.includes('images'));
    for (const f of files) await store.put(`models/tiny-captioner/${relative(BUNDLE, join(f.parentPath, f.name))}`, readFileSync(join(f.parentPath, f.name)));
    await store.put('data/cmnist/digit.png', images[3]!.bytes);
  });
  afterAll(async () => {
    store.destroy();
    await s3.close();
  });

  const input = (experimentId: string, over: Partial<CaptionImageInput> = {}): CaptionImageInput => ({
    experimentId,
    unit: 0,
    items: [{ index: 0, image: 's3://engines/data/cmnist/digit.png', label: 0 }],
    model: 's3://engines/models/tiny-captioner',
    perImage: 3,
    strategy: 'beam',
    seed: 0,
    ...over,
  });
  const run = (i: CaptionImageInput) =>
    runStageUnit(store, { experimentId: i.experimentId, stage: 'captionImage', version: 1, unit: String(i.unit), inputs: i }, { progress() {} }, (ctx) => captionImageEngine(i, ctx));

  it('captions an S3 image with an S3 bundle and stores captions.json; a rerun reuses it', async () => {
    const first = await run(input('c1'));
    expect(first.cached).toBe(false);
    expect(first.outputs.captions).toBe(3);
    expect(first.outputs.captionsKey).toMatch(/^stages\/captionImage\/0\/[0-9a-f]+\/captions\.json$/);
    const files = await store.getJson<CaptionFile[]>(first.outputs.captionsKey);
    // The tiny model's defaults (max_length 11 = 10 new tokens, 3 beams) are those of the reference.
    expect(files).toEqual([{ image: 's3://engines/data/cmnist/digit.png', label: 0, captions: reference.images[3]!.beam.map((b) => b.text) }]);
    // The bundle was synced once under $DIFFUBIAS_HOME/cache/bundles.
    const logs: string[] = [];
    const cached = (await resolveBundle('s3://engines/models/tiny-captioner', { what: 'captioner bundle' }, { s3: store.settings, log: (l) => logs.push(l) })).root;
    expect(logs).toEqual([]);
    expect(cached.startsWith(join(tmp, 'home', 'cache', 'bundles'))).toBe(true);
    expect(readFileSync(join(cached, 'onnx', 'encoder_model.onnx'))).toEqual(readFileSync(join(BUNDLE, 'onnx', 'encoder_model.onnx')));
    expect((await run(input('c1'))).cached).toBe(true);
  });

  it('sampling through the engine is deterministic for a seed (a retry writes the same file)', async () => {
    const local = { items: [{ index: 1, image: images[5]!.name, label: 6 }], model: BUNDLE, strategy: 'sample' as const, seed: 3 };
    const a = await run(input('s1', local));
    const b = await run(input('s2', local));
    const [fa] = (await store.getJson<CaptionFile[]>(a.outputs.captionsKey))!;
    const [fb] = (await store.getJson<CaptionFile[]>(b.outputs.captionsKey))!;
    expect(fa!.captions).toHaveLength(3);
    expect(fb).toEqual(fa);
    expect(fa!.image).toBe(images[5]!.name);
  });

  it('a unit of several images captions each as it would alone (beam and seeded sampling), in selection order', async () => {
    const items = [3, 5, 7].map((k, i) => ({ index: i, image: images[k]!.name, label: k }));
    for (const strategy of ['beam', 'sample'] as const) {
      const together = await run(input(`u-${strategy}`, { items, model: BUNDLE, strategy, seed: 4 }));
      const files = await readArtifact(store, CAPTIONS, together.outputs.captionsKey);
      expect(files.map((f) => f.image)).toEqual(items.map((i) => i.image));
      expect(together.outputs.captions).toBe(9);
      for (const [i, item] of items.entries()) {
        const alone = await run(input(`a-${strategy}-${i}`, { unit: 9 + i, items: [item], model: BUNDLE, strategy, seed: 4 }));
        expect((await readArtifact(store, CAPTIONS, alone.outputs.captionsKey))[0], `${strategy} ${item.image}`).toEqual(files[i]);
      }
    }
    // A unit file from before units held several images: one entry, read as a list of one.
    const files0: CaptionFile = { image: images[3]!.name, label: 3, captions: ['a three'] };
    await store.putJson('old/captions.json', files0);
    expect(await readArtifact(store, CAPTIONS, artifactKey(CAPTIONS, 'old/captions.json'))).toEqual([files0]);
    await store.putJson('bad/captions.json', [files0, { image: 1 }]);
    await expect(readArtifact(store, CAPTIONS, artifactKey(CAPTIONS, 'bad/captions.json'))).rejects.toThrow(/bad\/captions\.json: not a valid captions\.json: 1\.image: /);
  });

  it('a missing image fails as bad input naming it', async () => {
    const err = await badInput(run(input('m1', { items: [{ index: 2, image: 's3://engines/data/cmnist/missing.png', label: 1 }] })));
    expect(err.where).toBe('s3://engines/data/cmnist/missing.png');
    const local = join(tmp, 'nope', 'missing.png');
    expect((await badInput(run(input('m2', { items: [{ index: 3, image: local, label: 1 }], model: BUNDLE })))).where).toBe(local);
  });
});

describe('decodeImage', () => {
  it('shrinks a large image to at most 1024 px before the processor, keeping its aspect', async () => {
    const big = await sharp({ create: { width: 3000, height: 1500, channels: 3, background: 'red' } }).jpeg().toBuffer();
    const image = await decodeImage(big, 'big.jpg');
    expect([image.width, image.height, image.channels]).toEqual([1024, 512, 3]);
    const small = await sharp({ create: { width: 28, height: 28, channels: 4, background: 'blue' } }).png().toBuffer();
    expect([(await decodeImage(small, 'small.png')).width, (await decodeImage(small, 'small.png')).channels]).toEqual([28, 3]);
  });

  it('refuses an image over the pixel limit before decoding it, naming the file', async () => {
    const bomb = await sharp({ create: { width: 8000, height: 6000, channels: 3, background: 'black' } }).png({ compressionLevel: 9 }).toBuffer();
    await expect(decodeImage(bomb, 'bomb.png')).rejects.toThrow(/bomb\.png: not a readable image \(.*pixel limit/);
    await expect(decodeImage(bomb, 'bomb.png')).rejects.toBeInstanceOf(BadInputError);
  });
});
