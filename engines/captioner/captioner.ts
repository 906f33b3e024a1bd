import type { PreTrainedTokenizer } from '@huggingface/transformers';
import { resolveBundle } from '../../core/bundle-store';
import { locationKey } from '../../core/location';
import { ProcessCache } from '../../core/process-cache';
import type { S3Settings } from '../../core/store';
import { assertCudaProvider } from '../onnx/sessions';
import { asBadInput, CAPTIONER_BUNDLE, checkBundle, readConfig, type CaptionDtype } from './bundle';
import { generateCaptions } from './generation';
import { CAPTION_DECODE_MAX_SIDE, decodeImage } from './image';
import { loadOnevision } from './onevision';
import { familyInputs, familyPrompt } from './prompts';
import { transformers, type GenerativeModel, type ImageEncodingModel, type ProcessorCall, type ProcessorLike } from './transformers-internals';
import type { CaptionImage, CaptionRequest, ImageCaptions } from './types';

/**
 * Image captioning with transformers.js on local model bundles (docs/captioner.md):
 * a folder, or an s3:// prefix synced to a local cache first, holding a transformers.js export
 * (config.json, tokenizer.json, tokenizer_config.json, preprocessor_config.json, onnx/*.onnx).
 * Nothing is ever fetched from the Hugging Face hub. Inference runs on the project's
 * onnxruntime-node (CPU, or CUDA when asked). Token selection (greedy, seeded sampling, beam
 * search) is ours, in ./search.ts; transformers.js runs the model step by step. Apart: the
 * bundle's checks (./bundle.ts), image decoding (./image.ts), each family's inputs (./prompts.ts),
 * generation (./generation.ts) over transformers.js's internals (./transformers-internals.ts);
 * LLaVA-OneVision's processor and image encoding, which transformers.js lacks (./onevision.ts).
 */

export { CAPTIONER_BUNDLE, type CaptionDtype } from './bundle';
export { decodeImage } from './image';
export type { CaptionImage, CaptionRequest, CaptionStrategy, ImageCaptions } from './types';

export type CaptionDevice = 'cpu' | 'cuda';

export interface CaptionerOptions {
  /** Default 'cpu'. 'cuda' needs onnxruntime-node's CUDA provider (installed with network access). */
  device?: CaptionDevice;
  /** Which ONNX files to load (`onnx/<name>.onnx` for fp32, `<name>_fp16.onnx`, `<name>_quantized.onnx` for q8...). Default 'fp32'. */
  dtype?: CaptionDtype;
  /** Endpoint and credentials for an s3:// bundle (its bucket and prefix come from the URI). */
  s3?: S3Settings;
  /** Where s3:// bundles are synced; default `$DIFFUBIAS_HOME/cache/bundles` (`.diffubias/cache/bundles`). */
  cacheRoot?: string;
  log?: (message: string) => void;
}


export class Captioner {
  private constructor(
    /** As given: a folder or an s3:// URI. */
    readonly bundle: string,
    /** The local folder loaded. */
    readonly path: string,
    readonly modelType: string,
    readonly device: CaptionDevice,
    private readonly model: GenerativeModel,
    private readonly processor: ProcessorCall & ProcessorLike,
    private readonly tokenizer: PreTrainedTokenizer,
    /** Images are decoded no larger than this (./image.ts). */
    private readonly decodeMaxSide: number,
  ) {}

  /** Loads a bundle (no cache: see loadCaptioner). */
  static async load(bundle: string, options: CaptionerOptions = {}): Promise<Captioner> {
    const local = await resolveBundle(bundle, CAPTIONER_BUNDLE, { s3: options.s3, cacheRoot: options.cacheRoot, log: options.log });
    const path = local.root;
    const config = await readConfig(local);
    const dtype = options.dtype ?? 'fp32';
    await checkBundle(local, config.model_type, dtype);
    const t = transformers();
    const device = options.device ?? 'cpu';
    // transformers.js opens its sessions on the same onnxruntime-node: a missing CUDA provider is
    // said as such, not as a bundle that does not load.
    if (device === 'cuda') await assertCudaProvider();
    const modelOptions = { device, dtype, local_files_only: true } as const;
    try {
      const Auto = config.model_type === 'vision-encoder-decoder' ? t.AutoModelForVision2Seq : t.AutoModelForImageTextToText;
      // LLaVA-OneVision brings its own processor (./onevision.ts): transformers.js's is plain LLaVA's.
      const onevision = config.model_type === 'llava_onevision';
      const [model, loadedProcessor, tokenizer] = await Promise.all([
        Auto.from_pretrained(path, modelOptions),
        onevision ? undefined : t.AutoProcessor.from_pretrained(path, { local_files_only: true }),
        t.AutoTokenizer.from_pretrained(path, { local_files_only: true }),
      ]);
      const processor = onevision
        ? await loadOnevision(local, model as unknown as ImageEncodingModel, tokenizer)
        : loadedProcessor as unknown as ProcessorCall & ProcessorLike;
      // OneVision's tiling depends on the image's own size (select_best_resolution) and Python resizes
      // the whole image: it gets it undecimated (the pixel limit still holds); the other families'
      // processors resize to a few hundred pixels anyway.
      const decodeMaxSide = onevision ? Infinity : CAPTION_DECODE_MAX_SIDE;
      const modelType = model.config.model_type ?? config.model_type ?? 'unknown';
      options.log?.(`captioner ${bundle}: ${modelType} (${model.constructor.name}) on ${device}, ${dtype}`);
      return new Captioner(bundle, path, modelType, device, model as unknown as GenerativeModel, processor, tokenizer, decodeMaxSide);
    } catch (err) {
      throw asBadInput(err);
    }
  }

  /** Captions `images` (decoded with sharp), in batches. */
  async caption(images: readonly CaptionImage[], request: CaptionRequest = {}): Promise<ImageCaptions[]> {
    const strategy = request.strategy ?? 'beam';
    const perImage = request.perImage ?? (strategy === 'greedy' ? 1 : 3);
    if (!Number.isInteger(perImage) || perImage < 1) throw new RangeError(`perImage must be a positive integer, got ${perImage}`);
    if (strategy === 'greedy' && perImage !== 1) throw new RangeError('greedy decoding gives one caption per image: use beam or sample for more');
    const decoded = await Promise.all(images.map((image) => decodeImage(image.bytes, image.name, this.decodeMaxSide)));
    const batchSize = Math.max(1, request.batchSize ?? 8);
    // Decoder-only families (SmolVLM) pad prompts of different lengths: one image per batch there.
    const step = this.model.config.is_encoder_decoder || this.modelType === 'vision-encoder-decoder' ? batchSize : 1;
    const results: ImageCaptions[] = [];
    for (let first = 0; first < decoded.length; first += step) {
      request.signal?.throwIfAborted();
      const images = decoded.slice(first, first + step);
      const inputs = await familyInputs(this.modelType, this.processor, images, request.prompt, this.path);
      const captions = await generateCaptions(this.model, this.tokenizer, inputs, images.length, { ...request, strategy, perImage }, this.path);
      const prompt = familyPrompt(this.modelType, request.prompt);
      results.push(...(prompt === undefined ? captions : captions.map((c) => ({ ...c, prompt }))));
    }
    return results;
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }
}

const captioners = new ProcessCache<Captioner>({ capacity: 2, release: (captioner) => captioner.dispose() });

/**
 * The captioner of a bundle, loaded once per process (per bundle location, device and dtype) and
 * shared by every caption call the worker makes; see ProcessCache for the policy.
 */
export function loadCaptioner(bundle: string, options: CaptionerOptions = {}): Promise<Captioner> {
  const key = JSON.stringify([locationKey(bundle, options.s3), options.device ?? 'cpu', options.dtype ?? 'fp32']);
  return captioners.get(key, () => Captioner.load(bundle, options));
}

/** Drops (and disposes) every cached captioner. */
export function clearCaptioners(): Promise<void> {
  return captioners.clear();
}
