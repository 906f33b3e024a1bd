/**
 * The LLaVA-OneVision family (config.json model_type "llava_onevision") over transformers.js.
 * transformers.js 4.3.2 loads such a bundle as plain LLaVA (one view per image, `<image>` expanded
 * to one view's features, no image_newline) and its LlavaOnevisionImageProcessor is the generic
 * resize-and-normalise one. Python transformers tiles the image (anyres), runs the vision tower on
 * every view and packs the features; this adapter does what Python does:
 *   - a processor (in place of transformers.js's): anyres views and the `<image>` expansion to
 *     exactly the packed feature count (./anyres.ts, ./onevision-image.ts);
 *   - the model's encode_image, swapped on the loaded instance: the vision encoder on every view
 *     of an image, then pack_image_features (./onevision-features.ts). transformers.js's own
 *     forward, merge and decoder are kept, and so is the captioner's generation (./generation.ts).
 * The bundle's onnx/vision_encoder.onnx gives every view's projector output (`image_features`
 * [views, side^2, hidden]) and the model's `image_newline` [hidden] (tools/make_tiny_onevision.py
 * exports both); the anyres settings come from its JSON files (./onevision-settings.ts).
 */
import type { PreTrainedTokenizer, RawImage, Tensor } from '@huggingface/transformers';
import type { LocalBundle } from '../../core/bundle-store';
import { BadInputError } from '../../core/errors';
import { anyresLayout, type Size } from './anyres';
import { packImageFeatures } from './onevision-features';
import { anyresPixelValues } from './onevision-image';
import { readOnevisionSettings, type OnevisionSettings } from './onevision-settings';
import { transformers, type ImageEncodingModel, type ModelInputs, type ProcessorCall, type ProcessorLike } from './transformers-internals';

/**
 * LlavaOnevisionProcessor for images and prompts (one image per prompt): input_ids and
 * attention_mask of the prompts with `<image>` expanded, pixel_values [batch, views, 3, crop, crop]
 * (fewer views padded with zeros, as Python's do_pad) and image_sizes [batch, 2] (height, width).
 */
export function onevisionProcessor(settings: OnevisionSettings, tokenizer: PreTrainedTokenizer): ProcessorCall & ProcessorLike {
  const { anyres, norm, imageToken } = settings;
  const call = async (...args: unknown[]): Promise<ModelInputs> => {
    const [images, texts] = args as [RawImage[], string[]];
    if (images.length !== texts.length) throw new RangeError(`${images.length} images for ${texts.length} prompts`);
    const layouts = images.map((image) => anyresLayout(anyres, [image.height, image.width]));
    const expanded = texts.map((text, i) => text.replace(imageToken, () => imageToken.repeat(layouts[i]!.tokens)));
    const perView = 3 * anyres.cropSize * anyres.cropSize;
    const maxViews = Math.max(...layouts.map((l) => l.views));
    const pixels = new Float32Array(images.length * maxViews * perView);
    images.forEach((image, i) => {
      const rgb = { data: image.data as Uint8ClampedArray, width: image.width, height: image.height, channels: image.channels };
      pixels.set(anyresPixelValues(rgb, layouts[i]!, anyres.cropSize, norm), i * maxViews * perView);
    });
    const T = transformers().Tensor;
    const sizes = BigInt64Array.from(images.flatMap((image) => [BigInt(image.height), BigInt(image.width)]));
    const { input_ids, attention_mask } = tokenizer(expanded, { padding: true });
    return {
      input_ids,
      attention_mask,
      pixel_values: new T('float32', pixels, [images.length, maxViews, 3, anyres.cropSize, anyres.cropSize]),
      image_sizes: new T('int64', sizes, [images.length, 2]),
    };
  };
  const apply_chat_template = (messages: unknown[], options: Record<string, unknown> = {}): string =>
    tokenizer.apply_chat_template(messages as Parameters<PreTrainedTokenizer['apply_chat_template']>[0], { ...options, tokenize: false }) as unknown as string;
  return Object.assign(call, { apply_chat_template });
}

function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Makes a loaded transformers.js LLaVA model encode images as LLaVA-OneVision: `image_sizes` is
 * kept among its inputs, and encode_image runs the vision encoder on each row's views and packs
 * them. Rows that repeat the previous one (beam search repeats an image per beam) are encoded once.
 */
export function attachAnyresEncoder(model: ImageEncodingModel, settings: OnevisionSettings, where: string): void {
  const session = model.sessions.vision_encoder;
  if (!session) throw new BadInputError(where, 'not loaded: LLaVA-OneVision needs the vision encoder');
  if (!session.outputNames.includes('image_newline') || !session.outputNames.includes('image_features')) {
    throw new BadInputError(where, `outputs ${session.outputNames.join(', ')}: LLaVA-OneVision needs image_features and image_newline (tools/make_tiny_onevision.py exports both)`);
  }
  const { anyres } = settings;
  const side = anyres.featuresPerSide;
  // transformers.js's _prepare_model_inputs keeps only forward_params: without this, image_sizes never reaches encode_image.
  if (!model.forward_params.includes('image_sizes')) model.forward_params = [...model.forward_params, 'image_sizes'];
  model.encode_image = async (inputs: ModelInputs): Promise<Tensor> => {
    const T = transformers().Tensor;
    const pixels = inputs.pixel_values as Tensor;
    const sizes = inputs.image_sizes as Tensor | undefined;
    if (!sizes) throw new Error(`${where}: image_sizes missing (LLaVA-OneVision inputs come from onevisionProcessor)`);
    // pixel_values [rows, views, 3, crop, crop], image_sizes [rows, 2]: one image per row (beams repeat it).
    const [rows, maxViews] = pixels.dims as [number, number];
    const perView = pixels.dims.slice(2).reduce((a, b) => a * b, 1);
    const data = pixels.data as Float32Array;
    const sizeData = sizes.data as BigInt64Array;
    const packed: Float32Array[] = [];
    let hidden = 0;
    let previous: { pixels: Float32Array; size: Size; features: Float32Array } | undefined;
    for (let r = 0; r < rows; r++) {
      const size: Size = [Number(sizeData[2 * r]), Number(sizeData[2 * r + 1])];
      const layout = anyresLayout(anyres, size);
      const start = r * maxViews * perView;
      const rowPixels = data.subarray(start, start + layout.views * perView);
      if (previous && sameValues(previous.size, size) && sameValues(previous.pixels, rowPixels)) {
        packed.push(previous.features);
        continue;
      }
      const outputs = await session.run({ pixel_values: new T('float32', rowPixels.slice(), [layout.views, ...pixels.dims.slice(2)]).ort_tensor });
      const views = outputs.image_features!;
      hidden = views.dims.at(-1)!;
      const features = packImageFeatures(views.data as Float32Array, layout, side, hidden, outputs.image_newline!.data as Float32Array);
      packed.push(features);
      previous = { pixels: rowPixels, size, features };
    }
    const all = new Float32Array(packed.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of packed) {
      all.set(p, at);
      at += p.length;
    }
    return new T('float32', all, [all.length / hidden, hidden]);
  };
}

/** A OneVision bundle's processor, with `model`'s image encoding made OneVision's. */
export async function loadOnevision(bundle: LocalBundle, model: ImageEncodingModel, tokenizer: PreTrainedTokenizer): Promise<ProcessorCall & ProcessorLike> {
  const settings = await readOnevisionSettings(bundle);
  attachAnyresEncoder(model, settings, bundle.describe('onnx/vision_encoder.onnx'));
  return onevisionProcessor(settings, tokenizer);
}
