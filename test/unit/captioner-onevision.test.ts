/**
 * LLaVA-OneVision against Python transformers 4.57 on the same files: a tiny random-weight
 * LlavaOnevisionForConditionalGeneration with anyres tiling (tools/make_tiny_onevision.py,
 * test/fixtures/tiny-onevision), step by step: the anyres geometry (also at the real checkpoint's
 * settings), Pillow's bicubic resize, the pixel values, the packed image features, the expanded
 * prompt, then greedy and beam generation, on eight pictures of different sizes and aspect ratios
 * (one larger than the 1024 px other families decode at).
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadInputError } from '../../core/errors';
import { anyresLayout, maxViewsOf, type AnyresSettings, type Size } from '../../engines/captioner/anyres';
import { clearCaptioners, loadCaptioner, type Captioner, type CaptionImage } from '../../engines/captioner/captioner';
import { decodeImage } from '../../engines/captioner/image';
import { onevisionProcessor } from '../../engines/captioner/onevision';
import { packImageFeatures } from '../../engines/captioner/onevision-features';
import { anyresPixelValues } from '../../engines/captioner/onevision-image';
import { readOnevisionSettings, type OnevisionSettings } from '../../engines/captioner/onevision-settings';
import { resizeBicubic } from '../../engines/captioner/pil-resize';
import { transformers } from '../../engines/captioner/transformers-internals';
import { openSession } from '../../engines/onnx/sessions';

interface Geometry { image_size: [number, number]; best_resolution: [number, number]; grid: [number, number]; views: number; image_tokens: number }
interface OnevisionReference {
  prompt: string;
  max_new_tokens: number;
  num_beams: number;
  crop_size: number;
  features_per_view: number;
  image_grid_pinpoints: [number, number][];
  vision_aspect_ratio: string;
  images: {
    file: string; input_ids: number[]; generated_ids: number[]; text: string; min_margin: number;
    beam: { ids: number[]; text: string; score: number }[];
    geometry: Geometry; pixel_values_sha256: string; packed_digest: [number, number][];
  }[];
  real_checkpoint_geometry: { crop_size: number; patch_size: number; vision_aspect_ratio: string; image_grid_pinpoints: [number, number][]; images: Geometry[] };
  pil_bicubic_resizes: { cases: { size: [number, number]; resized: [number, number]; seed: number; sha256: string }[] };
}

const DIR = join(__dirname, '..', 'fixtures', 'tiny-onevision');
const ref = JSON.parse(readFileSync(join(DIR, 'reference.json'), 'utf8')) as OnevisionReference;
const images: CaptionImage[] = ref.images.map((r) => ({ bytes: readFileSync(join(DIR, r.file)), name: join(DIR, r.file) }));
/** The instruction inside the reference's chat turn ("<|im_start|>user\n<image>\n<instruction><|im_end|>..."). */
const INSTRUCTION = /<image>\n(.*)<\|im_end\|>/.exec(ref.prompt)![1]!;
const local = { source: DIR, root: DIR, describe: (name: string) => join(DIR, name) };

const sha256 = (bytes: ArrayBufferView): string => createHash('sha256').update(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).digest('hex');

function expectGeometry(settings: AnyresSettings, python: Geometry): void {
  const layout = anyresLayout(settings, python.image_size as Size);
  expect({ image_size: python.image_size, best_resolution: [...layout.best], grid: [...layout.grid], views: layout.views, image_tokens: layout.tokens })
    .toEqual(python);
}

describe('anyres geometry equals Python transformers (select_best_resolution, grid, views, <image> tokens)', () => {
  it(`on the tiny model's settings, for the ${ref.images.length} fixture pictures (every grid shape, both unpaddings, the anyres_max shrink)`, async () => {
    const { anyres } = await readOnevisionSettings(local);
    expect(anyres).toEqual({ cropSize: ref.crop_size, featuresPerSide: Math.sqrt(ref.features_per_view), pinpoints: ref.image_grid_pinpoints, maxViews: maxViewsOf(ref.vision_aspect_ratio) });
    for (const image of ref.images) expectGeometry(anyres, image.geometry);
    // What the pictures cover: downsampled and not, rows and columns unpadded, a 1x1 grid.
    const layouts = ref.images.map((r) => anyresLayout(anyres, r.geometry.image_size as Size));
    expect(layouts.some((l) => l.packed[0] < l.unpadded[0])).toBe(true);
    expect(layouts.some((l) => l.packed[0] === l.unpadded[0] && l.grid[0] * l.grid[1] > 1)).toBe(true);
    expect(layouts.some((l) => l.unpadded[0] < l.grid[0] * anyres.featuresPerSide)).toBe(true);
    expect(layouts.some((l) => l.unpadded[1] < l.grid[1] * anyres.featuresPerSide)).toBe(true);
    expect(layouts.some((l) => l.views === 2)).toBe(true);
  });

  it("at llava-hf/llava-onevision-qwen2-0.5b-ov-hf's settings (384 px, patch 14, 36 pinpoints, anyres_max_9), 17 image sizes", () => {
    const real = ref.real_checkpoint_geometry;
    const settings: AnyresSettings = {
      cropSize: real.crop_size, featuresPerSide: Math.floor(real.crop_size / real.patch_size), pinpoints: real.image_grid_pinpoints, maxViews: maxViewsOf(real.vision_aspect_ratio),
    };
    for (const image of real.images) expectGeometry(settings, image);
  });
});

describe('OneVision bundle settings', () => {
  it("a bundle whose processor files disagree with config.json is refused, naming the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onevision-'));
    try {
      for (const name of ['config.json', 'preprocessor_config.json', 'processor_config.json']) cpSync(join(DIR, name), join(dir, name));
      const bundle = { source: dir, root: dir, describe: (name: string) => join(dir, name) };
      const processor = JSON.parse(readFileSync(join(DIR, 'processor_config.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(join(dir, 'processor_config.json'), JSON.stringify({ ...processor, num_image_tokens: 17 }));
      await expect(readOnevisionSettings(bundle)).rejects.toThrow(new BadInputError(join(dir, 'processor_config.json'), 'num_image_tokens 17 does not match 4 x 4 features per view'));
      writeFileSync(join(dir, 'processor_config.json'), JSON.stringify({ ...processor, vision_aspect_ratio: 'anyres_max_9' }));
      await expect(readOnevisionSettings(bundle)).rejects.toBeInstanceOf(BadInputError);
      writeFileSync(join(dir, 'processor_config.json'), JSON.stringify(processor));
      await expect(readOnevisionSettings(bundle)).resolves.toBeTruthy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Pillow's bicubic resize, ported", () => {
  /** tools/make_tiny_onevision.py's synthetic_pixels: RGB bytes from a 32-bit LCG. */
  function syntheticPixels(width: number, height: number, seed: number): Uint8Array {
    const data = new Uint8Array(width * height * 3);
    let state = seed;
    for (let i = 0; i < data.length; i++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      data[i] = state >>> 24;
    }
    return data;
  }

  it('gives the bytes PIL.Image.resize(BICUBIC) gives (12 sizes: up, down, mixed, unchanged)', () => {
    for (const c of ref.pil_bicubic_resizes.cases) {
      const [w, h] = c.size;
      const out = resizeBicubic({ data: syntheticPixels(w, h, c.seed), width: w, height: h, channels: 3 }, c.resized[0], c.resized[1]);
      expect({ case: c.size.concat(c.resized), sha256: sha256(out.data) }).toEqual({ case: c.size.concat(c.resized), sha256: c.sha256 });
    }
  });
});

describe('LLaVA-OneVision processor and packing on the tiny bundle', () => {
  let settings: OnevisionSettings;
  let session: ort.InferenceSession;
  beforeAll(async () => {
    settings = await readOnevisionSettings(local);
    session = await openSession(join(DIR, 'onnx', 'vision_encoder.onnx'), { intraOpThreads: 1 });
  });
  afterAll(() => session?.release());

  async function pixelsOf(i: number) {
    const image = await decodeImage(images[i]!.bytes, images[i]!.name, Infinity);
    const layout = anyresLayout(settings.anyres, [image.height, image.width]);
    const rgb = { data: image.data as Uint8ClampedArray, width: image.width, height: image.height, channels: image.channels };
    return { layout, pixels: anyresPixelValues(rgb, layout, settings.anyres.cropSize, settings.norm) };
  }

  it('pixel values are bit for bit those of LlavaOnevisionImageProcessor (SHA-256 of the float32 views)', async () => {
    for (const [i, r] of ref.images.entries()) {
      const { pixels } = await pixelsOf(i);
      expect({ file: r.file, sha256: sha256(pixels) }).toEqual({ file: r.file, sha256: r.pixel_values_sha256 });
    }
  });

  it("packed image features equal Python's pack_image_features token by token (digests to 1e-3)", async () => {
    const crop = settings.anyres.cropSize;
    for (const [i, r] of ref.images.entries()) {
      const { layout, pixels } = await pixelsOf(i);
      const out = await session.run({ pixel_values: new ort.Tensor('float32', pixels, [layout.views, 3, crop, crop]) });
      const views = out.image_features!;
      const hidden = views.dims.at(-1)!;
      const packed = packImageFeatures(views.data as Float32Array, layout, settings.anyres.featuresPerSide, hidden, out.image_newline!.data as Float32Array);
      const digest = Array.from({ length: packed.length / hidden }, (_, t) => {
        let sum = 0;
        let dot = 0;
        for (let k = 0; k < hidden; k++) {
          sum += packed[t * hidden + k]!;
          dot += packed[t * hidden + k]! * Math.cos(k);
        }
        return [sum, dot];
      });
      expect(digest.length, r.file).toBe(r.packed_digest.length);
      digest.forEach(([sum, dot], t) => {
        expect(Math.abs(sum! - r.packed_digest[t]![0]), `${r.file} token ${t} sum`).toBeLessThan(1e-3);
        expect(Math.abs(dot! - r.packed_digest[t]![1]), `${r.file} token ${t} cos-weighted sum`).toBeLessThan(1e-3);
      });
    }
  });

  it("the chat prompt with <image> expanded tokenizes to Python's input_ids", async () => {
    const tokenizer = await transformers().AutoTokenizer.from_pretrained(DIR, { local_files_only: true });
    const processor = onevisionProcessor(settings, tokenizer);
    const messages = [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: INSTRUCTION }] }];
    const text = processor.apply_chat_template!(messages, { add_generation_prompt: true });
    expect(text).toBe(ref.prompt);
    for (const [i, r] of ref.images.entries()) {
      const image = await decodeImage(images[i]!.bytes, images[i]!.name, Infinity);
      const inputs = await processor([image], [text]);
      const ids = (inputs.input_ids as { tolist(): bigint[][] }).tolist()[0]!.map(Number);
      expect({ file: r.file, ids }).toEqual({ file: r.file, ids: r.input_ids });
    }
  });
});

describe('LLaVA-OneVision (SigLIP, anyres, Qwen2) on a tiny random-weight bundle', () => {
  let captioner: Captioner;
  beforeAll(async () => {
    captioner = await loadCaptioner(DIR);
  });
  afterAll(() => clearCaptioners());

  it(`loads as the llava_onevision family; greedy captions equal Python transformers token for token (${ref.images.length} images)`, async () => {
    expect(captioner.modelType).toBe('llava_onevision');
    const results = await captioner.caption(images, { strategy: 'greedy', maxNewTokens: ref.max_new_tokens, prompt: INSTRUCTION });
    expect(results.map((r) => r.tokens[0])).toEqual(ref.images.map((r) => r.generated_ids));
    expect(results.map((r) => r.captions[0])).toEqual(ref.images.map((r) => r.text.trim()));
  });

  it('beam search returns the same 3 sequences as Python generate(num_beams=3, num_return_sequences=3), in order, scores to 1e-3', async () => {
    const results = await captioner.caption(images, { strategy: 'beam', perImage: 3, numBeams: ref.num_beams, maxNewTokens: ref.max_new_tokens, prompt: INSTRUCTION });
    expect(results.map((r) => r.tokens)).toEqual(ref.images.map((r) => r.beam.map((b) => b.ids)));
    expect(results.map((r) => r.captions)).toEqual(ref.images.map((r) => r.beam.map((b) => b.text.trim())));
    for (const [i, r] of results.entries()) r.scores.forEach((score, k) => expect(Math.abs(score - ref.images[i]!.beam[k]!.score)).toBeLessThan(1e-3));
  });
});
