import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { PreTrainedTokenizer, RawImage, Tensor } from '@huggingface/transformers';
import { resolveBundle, type BundleKind, type LocalBundle } from '../../core/bundle-store';
import { locationKey } from '../../core/location';
import { ProcessCache } from '../../core/process-cache';
import type { S3Settings } from '../../core/store';
import { BadInputError } from '../../core/errors';
import { imageSizeProblem, MAX_INPUT_PIXELS } from '../../core/image-limits';
import sharp from 'sharp';
import { argmax, BeamGroup, logSoftmaxRows, sampleToken } from './search';
import { assertCudaProvider } from '../onnx/sessions';

/**
 * Image captioning with transformers.js on local model bundles (docs/captioner.md):
 * a folder, or an s3:// prefix synced to a local cache first, holding a transformers.js export
 * (config.json, tokenizer.json, tokenizer_config.json, preprocessor_config.json, onnx/*.onnx).
 * Nothing is ever fetched from the Hugging Face hub. Inference runs on the project's
 * onnxruntime-node (CPU, or CUDA when asked). Token selection (greedy, seeded sampling, beam
 * search) is ours, in ./search.ts; transformers.js runs the model step by step.
 */

type Transformers = typeof import('@huggingface/transformers');

let transformersModule: Transformers | undefined;

/** transformers.js, loaded on first use (it loads onnxruntime-node) with hub access switched off. */
export function transformers(): Transformers {
  if (!transformersModule) {
    const t = require('@huggingface/transformers') as Transformers;
    t.env.allowRemoteModels = false;
    t.env.allowLocalModels = true;
    transformersModule = t;
  }
  return transformersModule;
}

export type CaptionStrategy = 'beam' | 'sample' | 'greedy';
export type CaptionDevice = 'cpu' | 'cuda';
export type CaptionDtype = 'fp32' | 'fp16' | 'q8' | 'int8' | 'uint8' | 'q4' | 'q4f16' | 'bnb4';

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

export interface CaptionRequest {
  /** Default 'beam'. 'greedy' yields one caption per image. */
  strategy?: CaptionStrategy;
  /** Captions per image; default 3 (1 for greedy). */
  perImage?: number;
  /** Seed of the sampling strategy: the same seed gives the same captions. Default 0. */
  seed?: number;
  /** Default: the bundle's generation_config (max_new_tokens, else max_length minus the prompt; 20 if neither). */
  maxNewTokens?: number;
  /** Beam search width; default max(perImage, the bundle's num_beams). Never below perImage. */
  numBeams?: number;
  /** Sampling warpers; default the bundle's generation_config (transformers defaults 1, 50, 1). */
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Florence-2: the task token (default `<CAPTION>`); SmolVLM/Idefics3: the instruction. Ignored by vision-encoder-decoder models. */
  prompt?: string;
  /** Images per forward batch (each expands to perImage rows); default 8. */
  batchSize?: number;
  signal?: AbortSignal;
}

export interface ImageCaptions {
  captions: string[];
  /** Generated token ids of each caption (prompt excluded, EOS included when produced). */
  tokens: number[][];
  /** Beam: length-normalised log-prob; greedy and sample: sum of log-probs of the chosen tokens. */
  scores: number[];
}

/** An encoded image and how to name it in errors (its path or URI). */
export interface CaptionImage {
  bytes: Uint8Array;
  name: string;
}

/**
 * The longest side an image keeps before the processor sees it: the processor resizes to its own
 * 224 or 384 px anyway, and a 12-megapixel photo decoded at full size costs ~36 MB per image.
 */
export const CAPTION_DECODE_MAX_SIDE = 1024;

/**
 * Decodes PNG/JPEG/WebP... bytes with sharp (under the project's size and pixel limits), shrunk to
 * at most CAPTION_DECODE_MAX_SIDE; unreadable or oversized bytes are bad input.
 */
export async function decodeImage(bytes: Uint8Array, name: string): Promise<RawImage> {
  const { RawImage: Raw } = transformers();
  const tooBig = imageSizeProblem(bytes);
  if (tooBig) throw new BadInputError(name, tooBig);
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS })
      .resize(CAPTION_DECODE_MAX_SIDE, CAPTION_DECODE_MAX_SIDE, { fit: 'inside', withoutEnlargement: true })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.width < 1 || info.height < 1) throw new Error('empty image');
    const image = new Raw(new Uint8ClampedArray(data.buffer, data.byteOffset, data.byteLength), info.width, info.height, info.channels as 1 | 2 | 3 | 4);
    return info.channels === 3 ? image : image.rgb();
  } catch (err) {
    throw new BadInputError(name, `not a readable image (${(err as Error).message})`);
  }
}

// ---------------------------------------------------------------------------------------------
// Bundles: local folders, or s3:// prefixes synced by the bundle store.

/** How the bundle store names a captioner bundle (and what of it an S3 sync copies: all). */
export const CAPTIONER_BUNDLE: BundleKind = { what: 'captioner bundle' };

const REQUIRED_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'preprocessor_config.json'];

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

const DTYPE_SUFFIX: Record<CaptionDtype, string> = {
  fp32: '', fp16: '_fp16', q8: '_quantized', int8: '_int8', uint8: '_uint8', q4: '_q4', q4f16: '_q4f16', bnb4: '_bnb4',
};

/** Checks the files every family needs, and the ONNX files of a vision-encoder-decoder. */
async function checkBundle(bundle: LocalBundle, modelType: string | undefined, dtype: CaptionDtype): Promise<void> {
  const names = [...REQUIRED_FILES];
  if (modelType === 'vision-encoder-decoder') {
    for (const name of ['encoder_model', 'decoder_model_merged']) names.push(`onnx/${name}${DTYPE_SUFFIX[dtype]}.onnx`);
  }
  for (const name of names) {
    if (!(await exists(join(bundle.root, name)))) throw new BadInputError(bundle.describe(name), 'missing captioner bundle file');
  }
}

async function readConfig(bundle: LocalBundle): Promise<{ model_type?: string }> {
  let text: string;
  try {
    text = await readFile(join(bundle.root, 'config.json'), 'utf8');
  } catch {
    throw new BadInputError(bundle.describe('config.json'), 'missing captioner bundle file');
  }
  try {
    return JSON.parse(text) as { model_type?: string };
  } catch (err) {
    throw new BadInputError(bundle.describe('config.json'), `not valid JSON (${(err as Error).message})`);
  }
}

/** transformers.js reports a missing file as `... not found locally at "<path>"`: name that file. */
function asBadInput(err: unknown): unknown {
  const message = (err as Error)?.message ?? '';
  const missing = /(?:not found locally at|Local file missing at) "([^"]+)"/.exec(message);
  if (missing) return new BadInputError(missing[1]!, 'missing captioner bundle file');
  return err;
}

// ---------------------------------------------------------------------------------------------
// The model, seen through the transformers.js 4.3 generation internals it is driven with:
// PreTrainedModel's _prepare_generation_config, _prepare_model_inputs,
// _prepare_encoder_decoder_kwargs_for_generation, _prepare_decoder_input_ids_for_generation,
// _get_logits_processor and _update_model_kwargs_for_generation (underscored: private, free to
// change in any release). package.json pins @huggingface/transformers exactly for that reason;
// an upgrade is deliberate, with test/unit/captioner.test.ts (token-for-token parity with Python
// transformers) as its guard.

type ModelInputs = Record<string, unknown>;

interface GenerationSettings {
  max_length: number;
  max_new_tokens: number | null;
  eos_token_id: number | number[] | null;
  pad_token_id: number | null;
  bos_token_id: number | null;
  decoder_start_token_id: number | number[] | null;
  num_beams: number;
  length_penalty: number;
  early_stopping: boolean | 'never';
  temperature: number;
  top_k: number;
  top_p: number;
}

interface KeyValueCache {
  update(entries: Record<string, Tensor>): void;
  dispose?(): Promise<void>;
}

/** The parts of a transformers.js PreTrainedModel that `generate` itself uses. */
interface GenerativeModel {
  config: { model_type: string; is_encoder_decoder?: boolean };
  _prepare_generation_config(generation_config: null, kwargs: Record<string, unknown>): GenerationSettings;
  _get_logits_processor(config: GenerationSettings, inputLength: number, extra: null): (ids: bigint[][], logits: Tensor) => Tensor;
  _prepare_model_inputs(args: { inputs: null; model_kwargs: ModelInputs }): { inputs_tensor: Tensor; model_inputs: ModelInputs; model_input_name: string };
  _prepare_encoder_decoder_kwargs_for_generation(args: {
    inputs_tensor: Tensor; model_inputs: ModelInputs; model_input_name: string; generation_config: GenerationSettings;
  }): Promise<ModelInputs>;
  _prepare_decoder_input_ids_for_generation(args: {
    batch_size: number; model_input_name: string; model_kwargs: ModelInputs;
    decoder_start_token_id: number | number[] | null; bos_token_id: number | null; generation_config: GenerationSettings;
  }): { input_ids: Tensor; model_inputs: ModelInputs };
  prepare_inputs_for_generation(ids: bigint[][], inputs: ModelInputs, config: GenerationSettings): ModelInputs;
  forward(inputs: ModelInputs): Promise<Record<string, Tensor>>;
  _update_model_kwargs_for_generation(args: {
    generated_input_ids: bigint[][]; outputs: Record<string, Tensor>; model_inputs: ModelInputs; is_encoder_decoder: boolean;
  }): ModelInputs;
  dispose(): Promise<unknown>;
}

type ProcessorCall = (...args: unknown[]) => Promise<ModelInputs>;
interface ProcessorLike {
  construct_prompts?(text: string | string[]): string[];
  apply_chat_template?(messages: unknown[], options?: Record<string, unknown>): string;
}

function isTensor(value: unknown): value is Tensor {
  return value instanceof transformers().Tensor;
}

/** Rows `index[i]` of a tensor's first dimension, as a new tensor. */
function selectRows(t: Tensor, index: readonly number[]): Tensor {
  const [rows, ...rest] = t.dims;
  const size = rest.reduce((a, b) => a * b, 1);
  const data = t.data as unknown as { length: number; subarray(a: number, b: number): ArrayLike<unknown>; constructor: new (n: number) => { set(src: ArrayLike<unknown>, at: number): void } };
  if (rows === undefined || data.length !== rows * size) throw new Error(`cannot select rows of a tensor of shape [${t.dims.join(', ')}]`);
  const out = new data.constructor(index.length * size);
  index.forEach((row, i) => out.set(data.subarray(row * size, (row + 1) * size), i * size));
  return new (transformers().Tensor)(t.type, out as never, [index.length, ...rest]);
}

/** Repeats every row `times` times (row r → rows r*times .. r*times+times-1) in every batch-shaped tensor. */
function expandRows(inputs: ModelInputs, batch: number, times: number): ModelInputs {
  if (times === 1) return inputs;
  const index = Array.from({ length: batch * times }, (_, i) => Math.floor(i / times));
  const out: ModelInputs = {};
  for (const [name, value] of Object.entries(inputs)) {
    out[name] = isTensor(value) && value.dims[0] === batch ? selectRows(value, index) : value;
  }
  return out;
}

/** After a beam step: the key/value cache and attention masks follow their beams. */
function reorderRows(inputs: ModelInputs, index: readonly number[]): void {
  const cache = inputs.past_key_values as (KeyValueCache & Record<string, unknown>) | null | undefined;
  if (cache) {
    const entries: Record<string, Tensor> = {};
    for (const [name, value] of Object.entries(cache)) {
      if (isTensor(value) && value.dims[0] === index.length) entries[name] = selectRows(value, index);
    }
    cache.update(entries);
  }
  for (const name of ['attention_mask', 'decoder_attention_mask']) {
    const value = inputs[name];
    if (isTensor(value) && value.dims[0] === index.length) inputs[name] = selectRows(value, index);
  }
}

/** A 32-bit seed for row `j` of a sampling run with `seed` (splitmix-style mixing). */
function rowSeed(seed: number, j: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(j + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

function idsOf(value: number | number[] | null | undefined): number[] {
  if (value === null || value === undefined) return [];
  return Array.isArray(value) ? value : [value];
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
      const [model, processor, tokenizer] = await Promise.all([
        Auto.from_pretrained(path, modelOptions),
        t.AutoProcessor.from_pretrained(path, { local_files_only: true }),
        t.AutoTokenizer.from_pretrained(path, { local_files_only: true }),
      ]);
      const modelType = model.config.model_type ?? config.model_type ?? 'unknown';
      options.log?.(`captioner ${bundle}: ${modelType} (${model.constructor.name}) on ${device}, ${dtype}`);
      return new Captioner(bundle, path, modelType, device, model as unknown as GenerativeModel,
        processor as unknown as ProcessorCall & ProcessorLike, tokenizer);
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
    const decoded = await Promise.all(images.map((image) => decodeImage(image.bytes, image.name)));
    const batchSize = Math.max(1, request.batchSize ?? 8);
    // Decoder-only families (SmolVLM) pad prompts of different lengths: one image per batch there.
    const step = this.model.config.is_encoder_decoder || this.modelType === 'vision-encoder-decoder' ? batchSize : 1;
    const results: ImageCaptions[] = [];
    for (let first = 0; first < decoded.length; first += step) {
      request.signal?.throwIfAborted();
      results.push(...(await this.captionBatch(decoded.slice(first, first + step), { ...request, strategy, perImage })));
    }
    return results;
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }

  private async prepareInputs(images: RawImage[], prompt: string | undefined): Promise<ModelInputs> {
    switch (this.modelType) {
      case 'vision-encoder-decoder':
        return this.processor(images);
      case 'florence2': {
        const task = prompt ?? '<CAPTION>';
        const prompts = this.processor.construct_prompts?.(images.map(() => task)) ?? images.map(() => task);
        return this.processor(images, prompts);
      }
      default: {
        // Chat VLMs (SmolVLM, Idefics3...): one user turn with the image and the instruction.
        const messages = [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: prompt ?? 'Describe this image in one sentence.' }] }];
        const text = this.processor.apply_chat_template?.(messages, { add_generation_prompt: true });
        if (typeof text !== 'string') throw new Error(`${this.path}: ${this.modelType} has no chat template for a caption prompt`);
        return this.processor(images.map(() => text), images.map((image) => [image]));
      }
    }
  }

  private async captionBatch(images: RawImage[], request: CaptionRequest & { strategy: CaptionStrategy; perImage: number }): Promise<ImageCaptions[]> {
    const { strategy, perImage } = request;
    const model = this.model;
    const batch = images.length;
    const isEncoderDecoder = Boolean(model.config.is_encoder_decoder);
    // The bundle's generation config (num_beams, max_length, eos...); do_sample off so that
    // transformers.js does not add its temperature warper: sampling applies its own warpers.
    const config = model._prepare_generation_config(null, { do_sample: false });
    const numBeams = strategy === 'beam' ? Math.max(perImage, request.numBeams ?? config.num_beams ?? 1) : 1;
    const rowsPerImage = strategy === 'beam' ? numBeams : strategy === 'sample' ? perImage : 1;
    const rows = batch * rowsPerImage;

    const processed = await this.prepareInputs(images, request.prompt);
    let modelInputs: ModelInputs;
    let promptIds: Tensor;
    if (isEncoderDecoder) {
      const prepared = model._prepare_model_inputs({ inputs: null, model_kwargs: processed });
      const encoded = await model._prepare_encoder_decoder_kwargs_for_generation({ ...prepared, generation_config: config });
      ({ input_ids: promptIds, model_inputs: modelInputs } = model._prepare_decoder_input_ids_for_generation({
        batch_size: rows, model_input_name: prepared.model_input_name, model_kwargs: expandRows(encoded, batch, rowsPerImage),
        decoder_start_token_id: config.decoder_start_token_id, bos_token_id: config.bos_token_id, generation_config: config,
      }));
    } else {
      const prepared = model._prepare_model_inputs({ inputs: null, model_kwargs: expandRows(processed, batch, rowsPerImage) });
      modelInputs = prepared.model_inputs;
      promptIds = modelInputs[prepared.model_input_name] as Tensor;
    }
    const promptLength = promptIds.dims.at(-1) ?? 1;
    const maxNew = request.maxNewTokens ?? config.max_new_tokens ?? Math.max(1, (config.max_length ?? 20) - promptLength);
    config.max_length = promptLength + maxNew;
    const processors = model._get_logits_processor(config, promptLength, null);
    const eosIds = idsOf(config.eos_token_id);
    const pad = config.pad_token_id ?? eosIds[0] ?? 0;

    let ids: number[][] = (promptIds.tolist() as (bigint | number)[][]).map((row) => row.map(Number));
    const scores = new Array<number>(rows).fill(0);
    const finished = new Array<boolean>(rows).fill(false);
    const beams = strategy === 'beam'
      ? images.map((_, i) => new BeamGroup(ids[i * numBeams]!, {
        numBeams, eosIds, maxLength: config.max_length, promptLength,
        lengthPenalty: config.length_penalty ?? 1, earlyStopping: config.early_stopping ?? false,
      }))
      : [];
    const { Random } = transformers().random;
    const rngs = strategy === 'sample'
      ? Array.from({ length: rows }, (_, r) => new Random(rowSeed(request.seed ?? 0, r % rowsPerImage)))
      : [];
    const sampling = {
      temperature: request.temperature ?? config.temperature ?? 1,
      topK: request.topK ?? config.top_k ?? 50,
      topP: request.topP ?? config.top_p ?? 1,
    };

    const T = transformers().Tensor;
    try {
      for (let curLen = promptLength; curLen < config.max_length; curLen++) {
        request.signal?.throwIfAborted();
        const asBig = ids.map((row) => row.map((x) => BigInt(x)));
        modelInputs = model.prepare_inputs_for_generation(asBig, modelInputs, config);
        const outputs = await model.forward(modelInputs);
        const logitsTensor = outputs.logits;
        if (!logitsTensor) throw new Error(`${this.path}: the model returned no logits`);
        const last = logitsTensor.slice(null, -1, null).to('float32');
        const vocab = last.dims.at(-1)!;
        let tokens: number[];
        if (strategy === 'beam') {
          const logProbs = processors(asBig, new T('float32', logSoftmaxRows(last.data as Float32Array, rows, vocab), [rows, vocab])).data as Float32Array;
          tokens = new Array<number>(rows);
          const origin = new Array<number>(rows);
          beams.forEach((group, g) => {
            const step = group.step(logProbs, g * numBeams * vocab, vocab, curLen);
            step.tokens.forEach((token, k) => {
              tokens[g * numBeams + k] = token;
              origin[g * numBeams + k] = g * numBeams + step.origins[k]!;
            });
          });
          ids = origin.map((o, r) => [...ids[o]!, tokens[r]!]);
          modelInputs = model._update_model_kwargs_for_generation({
            generated_input_ids: tokens.map((x) => [BigInt(x)]), outputs, model_inputs: modelInputs, is_encoder_decoder: isEncoderDecoder,
          });
          reorderRows(modelInputs, origin);
          if (beams.every((group) => group.done)) break;
        } else {
          const logits = processors(asBig, last).data as Float32Array;
          tokens = ids.map((_, r) => {
            if (finished[r]) return pad;
            const token = strategy === 'greedy' ? argmax(logits, r * vocab, vocab) : sampleToken(logits, r * vocab, vocab, () => rngs[r]!.random(), sampling);
            scores[r]! += logProbOf(logits, r * vocab, vocab, token);
            return token;
          });
          ids = ids.map((row, r) => [...row, tokens[r]!]);
          tokens.forEach((token, r) => { if (eosIds.includes(token)) finished[r] = true; });
          if (finished.every(Boolean) || curLen + 1 >= config.max_length) break;
          modelInputs = model._update_model_kwargs_for_generation({
            generated_input_ids: tokens.map((x) => [BigInt(x)]), outputs, model_inputs: modelInputs, is_encoder_decoder: isEncoderDecoder,
          });
        }
      }
    } finally {
      const cache = modelInputs.past_key_values as KeyValueCache | null | undefined;
      await cache?.dispose?.();
    }

    const generated = (sequence: number[]): number[] => {
      const out = sequence.slice(promptLength);
      const end = out.findIndex((x) => eosIds.includes(x));
      return end < 0 ? out : out.slice(0, end + 1);
    };
    return images.map((_, i) => {
      const hypotheses = strategy === 'beam'
        ? beams[i]!.results(perImage)
        : Array.from({ length: rowsPerImage }, (_, j) => ({ ids: ids[i * rowsPerImage + j]!, score: scores[i * rowsPerImage + j]! }));
      const tokens = hypotheses.map((h) => generated(h.ids));
      return {
        captions: tokens.map((t) => this.tokenizer.decode(t, { skip_special_tokens: true }).trim()),
        tokens,
        scores: hypotheses.map((h) => h.score),
      };
    });
  }
}

function logProbOf(logits: Float32Array, start: number, vocab: number, token: number): number {
  let max = -Infinity;
  for (let v = 0; v < vocab; v++) max = Math.max(max, logits[start + v]!);
  let sum = 0;
  for (let v = 0; v < vocab; v++) sum += Math.exp(logits[start + v]! - max);
  return logits[start + token]! - max - Math.log(sum);
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
