/**
 * Text-to-image on onnxruntime-node over a Stable-Diffusion-layout ONNX bundle: what diffusers'
 * StableDiffusionPipeline does (CLIP text encoder, classifier-free guidance or LCM's guidance embedding,
 * scheduler loop, VAE decode), with the unet/encoder/decoder input names, dtypes and ranks read from each
 * session's metadata, since exporters differ (int32 vs int64 input_ids; timestep int64 [batch], float32
 * scalar or float16; fp16 weights and I/O; an optional `timestep_cond`).
 *
 * A Text2Image is loaded once per worker process and bundle (see {@link loadText2Image}) and reused: its
 * sessions are the only long-lived state; each call allocates its arrays and lets them go.
 */
import * as ort from 'onnxruntime-node';
import { CudaProviderError, firstLine, openSession } from '../onnx/sessions';
import { encodeRgbPng } from '../../core/png';
import { locationKey } from '../../core/location';
import { ProcessCache } from '../../core/process-cache';
import type { S3Settings } from '../../core/store';
import { BadInputError } from '../../core/errors';
import { Rng } from '../../core/random';
import { openBundle, type SdBundle } from './bundle';
import { float16ToFloat32, float32ToFloat16 } from './float16';
import { createScheduler, guidanceScaleEmbedding, kindOfClass, SCHEDULER_CLASSES, type SchedulerKind, type StepNoise } from './schedulers';
import { ClipTokenizer } from './tokenizer';

export type Device = 'cpu' | 'cuda';

/** Output pixels per VAE decoder call: 64 images at 32 px, 16 at 64 px, one from 256 px up. */
const DECODE_PIXELS = 256 * 256;

export interface Text2ImageOptions {
  /** 'cpu' (default): the CPU provider; 'cuda': CUDA first, then CPU. */
  device?: Device;
  /** ORT intra-op threads; default: ORT's choice (one per core). */
  intraOpThreads?: number;
  /** For s3:// bundles. */
  s3?: S3Settings;
  /** Sync cache for s3:// bundles. */
  cacheRoot?: string;
  log?: (message: string) => void;
}

export interface GenerateRequest {
  prompts: readonly string[];
  /** One per prompt, or one for all; absent = "" (diffusers' default unconditional prompt). */
  negativePrompts?: string | readonly string[];
  /** One seed per image: image i's initial latents and step noise come from Rng(seeds[i]) alone. */
  seeds?: readonly number[];
  /** Initial latents per image (unscaled, [4, h/8, w/8]); replaces the seeded draw (parity tests). */
  latents?: readonly Float32Array[];
  /** Step noise; replaces the per-image seeded streams (parity tests replay a reference's noise). */
  noise?: StepNoise;
  steps: number;
  /** > 1 turns classifier-free guidance on (unets without timestep_cond); LCM unets embed w = guidance - 1. */
  guidance: number;
  height?: number;
  width?: number;
  /** Default: the bundle scheduler's class (DDIM when it is one we do not implement). */
  scheduler?: SchedulerKind;
  /** Keys laid over the bundle's scheduler_config.json. */
  schedulerConfig?: Readonly<Record<string, unknown>>;
  /** Encode PNGs (default true). */
  png?: boolean;
  signal?: AbortSignal;
  /** After each denoising step. */
  onStep?: (step: number, steps: number) => void;
  /** Warnings of this call (truncated prompts); default: the loader's log. */
  log?: (message: string) => void;
}

export interface GeneratedImage {
  prompt: string;
  seed?: number;
  width: number;
  height: number;
  /** The VAE decoder's raw output, [3, height, width], nominally [-1, 1] (not clamped). */
  decoded: Float32Array;
  /** diffusers' output_type="np" image: clamp(decoded / 2 + 0.5, 0, 1), [height, width, 3]. */
  pixels: Float32Array;
  png?: Buffer;
}

export interface GenerateResult {
  images: GeneratedImage[];
  scheduler: SchedulerKind;
  timesteps: number[];
  /** Prompts (by index) that were cut to the tokenizer's max length. */
  truncated: number[];
}

type TensorType = ort.Tensor.Type;

interface InputSpec {
  name: string;
  type: TensorType;
  shape: readonly (number | string)[];
}

function inputSpecs(session: ort.InferenceSession, where: string): Map<string, InputSpec> {
  const specs = new Map<string, InputSpec>();
  const metadata = session.inputMetadata as readonly ort.InferenceSession.ValueMetadata[] | undefined;
  if (!metadata || metadata.length !== session.inputNames.length) throw new BadInputError(where, 'the ONNX runtime gives no input metadata for this model');
  for (const m of metadata) {
    if (!m.isTensor) throw new BadInputError(where, `input ${m.name} is not a tensor`);
    specs.set(m.name, { name: m.name, type: m.type, shape: m.shape });
  }
  return specs;
}

function outputName(session: ort.InferenceSession, preferred: string[]): string {
  return preferred.find((n) => session.outputNames.includes(n)) ?? session.outputNames[0]!;
}

type TypedInput = Float32Array | Uint16Array | Float64Array | BigInt64Array | Int32Array;

/** Values as the typed array an input of `type` takes (float16 as its bits). */
function typedOf(type: TensorType, values: ArrayLike<number>, where: string): TypedInput {
  switch (type) {
    case 'float32': return values instanceof Float32Array ? values : Float32Array.from(values);
    case 'float16': return float32ToFloat16(values);
    case 'float64': return Float64Array.from(values);
    case 'int64': return BigInt64Array.from(Array.from(values, (v) => BigInt(Math.round(v))));
    case 'int32': return Int32Array.from(Array.from(values, (v) => Math.round(v)));
    default: throw new BadInputError(where, `unsupported input type ${type}`);
  }
}

/**
 * An input tensor. float16 data stays a Uint16Array of bits: where the runtime has a native
 * Float16Array (Node 24+), onnxruntime-common wraps the bits in one, which onnxruntime-node 1.30's
 * binding reads as zero bytes ("not enough space: expected 512, got 0"). The bits are put back as
 * the tensor's CPU data (its `cpuData` field, behind `data`), which the binding reads correctly.
 */
function inputTensor(type: TensorType, data: TypedInput, dims: readonly number[]): ort.Tensor {
  const tensor = new ort.Tensor(type, data, dims);
  if (type === 'float16' && data instanceof Uint16Array && !(tensor.data instanceof Uint16Array)) {
    (tensor as unknown as { cpuData: Uint16Array }).cpuData = data;
  }
  return tensor;
}

function tensorOf(type: TensorType, values: ArrayLike<number>, dims: readonly number[], where: string): ort.Tensor {
  return inputTensor(type, typedOf(type, values, where), dims);
}

/** A float output as float32. */
function floatData(tensor: ort.Tensor, where: string): Float32Array {
  const data = tensor.data as unknown;
  if (tensor.type === 'float32') return data as Float32Array;
  if (tensor.type === 'float16') return data instanceof Uint16Array ? float16ToFloat32(data) : Float32Array.from(data as ArrayLike<number>);
  if (tensor.type === 'float64') return Float32Array.from(data as Float64Array);
  throw new BadInputError(where, `unexpected output type ${tensor.type}`);
}

async function run(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, output: string, where: string): Promise<{ data: Float32Array; dims: readonly number[] }> {
  let results: ort.InferenceSession.ReturnType | undefined;
  try {
    results = await session.run(feeds, [output]);
    const out = results[output];
    if (!out) throw new Error(`no output ${output}`);
    const data = floatData(out, where);
    // Own copy: the output's buffer belongs to the runtime's tensor, which is disposed below.
    return { data: out.type === 'float32' ? Float32Array.from(data) : data, dims: out.dims };
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    throw new Error(`${where}: inference failed: ${(err as Error).message}`);
  } finally {
    for (const t of Object.values(feeds)) t.dispose();
    if (results) for (const t of Object.values(results)) t.dispose();
  }
}

/** Rows of a batched input, already in the input's typed form: [rows, ...tail]. */
interface Rows {
  name: string;
  type: TensorType;
  data: TypedInput;
  tail: readonly number[];
}

/** The batch size an input is fixed to by a static export, if it is. */
function fixedBatch(spec: InputSpec): number | undefined {
  const d = spec.shape[0];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

/** Rows [start, start + count) as `size` rows (the last one repeated to pad a static batch). */
function takeRows(data: TypedInput, rowSize: number, start: number, count: number, size: number): TypedInput {
  if (start === 0 && count === size && data.length === size * rowSize) return data;
  const out: TypedInput = data instanceof Float32Array ? new Float32Array(size * rowSize)
    : data instanceof Uint16Array ? new Uint16Array(size * rowSize)
      : data instanceof Float64Array ? new Float64Array(size * rowSize)
        : data instanceof Int32Array ? new Int32Array(size * rowSize)
          : new BigInt64Array(size * rowSize);
  for (let r = 0; r < size; r++) {
    const src = start + Math.min(r, count - 1);
    (out as Float32Array).set((data as Float32Array).subarray(src * rowSize, (src + 1) * rowSize), r * rowSize);
  }
  return out;
}

/**
 * Runs `rows` rows through a session in one call, or in chunks of the static batch size of an export with
 * a fixed batch dimension. `extra` makes the inputs that are not per-row (a scalar timestep) for a chunk size.
 */
async function runRows(
  session: ort.InferenceSession, inputs: readonly Rows[], rows: number, fixed: number | undefined,
  extra: (size: number) => Record<string, ort.Tensor>, output: string, where: string,
): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const chunk = fixed ?? rows;
  const parts: Float32Array[] = [];
  let dims: readonly number[] = [];
  for (let start = 0; start < rows; start += chunk) {
    const count = Math.min(chunk, rows - start);
    const size = fixed ?? count;
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of inputs) {
      const rowSize = input.tail.reduce((a, b) => a * b, 1);
      feeds[input.name] = inputTensor(input.type, takeRows(input.data, rowSize, start, count, size), [size, ...input.tail]);
    }
    Object.assign(feeds, extra(size));
    const res = await run(session, feeds, output, where);
    dims = res.dims;
    parts.push(count === size ? res.data : res.data.slice(0, (res.data.length / size) * count));
  }
  return { data: parts.length === 1 ? parts[0]! : concat(parts), dims: [rows, ...dims.slice(1)] };
}

interface UnetInputs {
  sample: InputSpec;
  timestep: InputSpec;
  hidden: InputSpec;
  cond?: InputSpec;
  condDim: number;
}

function unetInputs(session: ort.InferenceSession, bundle: SdBundle): UnetInputs {
  const where = bundle.describe('unet/model.onnx');
  const specs = inputSpecs(session, where);
  const pick = (names: string[], what: string): InputSpec => {
    for (const n of names) {
      const s = specs.get(n);
      if (s) return s;
    }
    throw new BadInputError(where, `no ${what} input (looked for ${names.join(', ')}; it has ${[...specs.keys()].join(', ')})`);
  };
  const sample = pick(['sample', 'latent_model_input', 'x'], 'latent sample');
  const timestep = pick(['timestep', 'timesteps', 't'], 'timestep');
  const hidden = pick(['encoder_hidden_states', 'encoder_hidden_state', 'context'], 'text embedding');
  const cond = specs.get('timestep_cond');
  const known = new Set([sample.name, timestep.name, hidden.name, cond?.name]);
  const extra = [...specs.keys()].filter((n) => !known.has(n));
  if (extra.length > 0) throw new BadInputError(where, `unsupported unet inputs ${extra.join(', ')} (SDXL-style text_embeds/time_ids unets are not supported)`);
  if (sample.shape.length !== 4) throw new BadInputError(where, `input ${sample.name} has rank ${sample.shape.length}, expected 4`);
  if (timestep.shape.length > 1) throw new BadInputError(where, `input ${timestep.name} has rank ${timestep.shape.length}, expected a scalar or [batch]`);
  let condDim = 0;
  if (cond) {
    const dim = cond.shape[1];
    const fromConfig = bundle.unetConfig.time_cond_proj_dim;
    condDim = typeof dim === 'number' ? dim : typeof fromConfig === 'number' ? fromConfig : 256;
  }
  return { sample, timestep, hidden, cond, condDim };
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export class Text2Image {
  private constructor(
    readonly bundle: SdBundle,
    private readonly tokenizer: ClipTokenizer,
    private readonly textEncoder: ort.InferenceSession,
    private readonly unet: ort.InferenceSession,
    private readonly vae: ort.InferenceSession,
    private readonly unetIn: UnetInputs,
    readonly device: Device,
    private readonly log: (message: string) => void,
  ) {}

  /** Opens the bundle and its three sessions. Prefer {@link loadText2Image}, which caches per process. */
  static async create(location: string, options: Text2ImageOptions = {}): Promise<Text2Image> {
    const log = options.log ?? (() => {});
    const bundle = await openBundle(location, { s3: options.s3, cacheRoot: options.cacheRoot, log });
    const tokenizer = await ClipTokenizer.load(bundle.tokenizer, bundle.describe);
    const device = options.device ?? 'cpu';
    const session = { device, intraOpThreads: options.intraOpThreads };
    const open = async (path: string, part: string) => {
      try {
        return await openSession(path, session);
      } catch (err) {
        if (err instanceof CudaProviderError) throw err;
        throw new BadInputError(bundle.describe(`${part}/model.onnx`), `cannot load the ONNX model (${firstLine(err)})`);
      }
    };
    const textEncoder = await open(bundle.textEncoder, 'text_encoder');
    const unet = await open(bundle.unet, 'unet');
    const vae = await open(bundle.vaeDecoder, 'vae_decoder');
    const unetIn = unetInputs(unet, bundle);
    log(`text-to-image: ${bundle.source} on ${device}; unet ${unetIn.sample.type}, timestep ${unetIn.timestep.type}${unetIn.timestep.shape.length ? ' [batch]' : ' scalar'}${unetIn.cond ? `, timestep_cond ${unetIn.condDim}` : ''}`);
    return new Text2Image(bundle, tokenizer, textEncoder, unet, vae, unetIn, device, log);
  }

  /** The scheduler kind the bundle's config names, or DDIM for one we do not implement. */
  get defaultScheduler(): SchedulerKind {
    return kindOfClass(this.bundle.schedulerConfig._class_name) ?? 'ddim';
  }

  /**
   * The bundle's scheduler config as the pipeline uses it. diffusers' StableDiffusionPipeline (and its ONNX
   * variants) force steps_offset = 1 and clip_sample = false on the scheduler it is built with; other
   * pipelines (LatentConsistencyModelPipeline) take the config as is.
   */
  get schedulerConfig(): Readonly<Record<string, unknown>> {
    const raw = this.bundle.schedulerConfig;
    if (!/StableDiffusion/.test(String(this.bundle.modelIndex._class_name ?? 'StableDiffusionPipeline'))) return raw;
    return { ...raw, steps_offset: 1, clip_sample: false };
  }

  /** unet sample_size x VAE scale factor, as diffusers defaults height and width. */
  get defaultSize(): { height: number; width: number } {
    const [, , staticH, staticW] = this.unetIn.sample.shape;
    if (typeof staticH === 'number' && typeof staticW === 'number') return { height: staticH * this.bundle.vaeScaleFactor, width: staticW * this.bundle.vaeScaleFactor };
    const sampleSize = this.bundle.unetConfig.sample_size;
    const side = (typeof sampleSize === 'number' ? sampleSize : Array.isArray(sampleSize) ? Number(sampleSize[0]) : 64) * this.bundle.vaeScaleFactor;
    const width = Array.isArray(sampleSize) ? Number(sampleSize[1]) * this.bundle.vaeScaleFactor : side;
    return { height: side, width };
  }

  /** Whether the unet takes LCM's guidance embedding (so no classifier-free guidance). */
  get usesGuidanceEmbedding(): boolean {
    return this.unetIn.cond !== undefined;
  }

  /** Last hidden states for the prompts, float32 [n, 77, dim] flat, plus which were truncated. */
  /**
   * CLIP embeddings of the prompts, [prompts, seq, dim]. Each distinct prompt is encoded once: a
   * batch's negative prompts are usually all '' and its prompts repeat kept captions.
   */
  async encodePrompts(prompts: readonly string[], log = this.log): Promise<{ embeddings: Float32Array; dims: readonly number[]; truncated: number[] }> {
    const distinct = [...new Set(prompts)];
    const row = new Map(distinct.map((p, i) => [p, i]));
    const { ids, truncated } = this.tokenizer.encode(distinct);
    const cut = new Set(truncated.map((t) => t.index));
    for (const t of truncated) {
      log(`warning: prompt ${prompts.indexOf(distinct[t.index]!)} has ${t.tokens} tokens; CLIP takes ${this.tokenizer.maxLength}, so this part was dropped: "${this.tokenizer.removedText(distinct[t.index]!)}"`);
    }
    const where = this.bundle.describe('text_encoder/model.onnx');
    const specs = inputSpecs(this.textEncoder, where);
    const idsSpec = specs.get('input_ids') ?? [...specs.values()][0]!;
    const flat = ids.flat();
    const seq = this.tokenizer.maxLength;
    if (idsSpec.type !== 'int32' && idsSpec.type !== 'int64') throw new BadInputError(where, `input ${idsSpec.name} is ${idsSpec.type}, expected int32 or int64`);
    if (idsSpec.shape.length !== 2) throw new BadInputError(where, `input ${idsSpec.name} has rank ${idsSpec.shape.length}, expected 2`);
    const rows: Rows[] = [{ name: idsSpec.name, type: idsSpec.type, data: typedOf(idsSpec.type, flat, where), tail: [seq] }];
    for (const spec of specs.values()) {
      if (spec.name === idsSpec.name) continue;
      if (spec.name === 'attention_mask') rows.push({ name: spec.name, type: spec.type, data: typedOf(spec.type, flat.map(() => 1), where), tail: [seq] });
      else throw new BadInputError(where, `unsupported text encoder input ${spec.name}`);
    }
    const out = await runRows(this.textEncoder, rows, ids.length, fixedBatch(idsSpec), () => ({}), outputName(this.textEncoder, ['last_hidden_state', 'hidden_states']), where);
    if (out.dims.length !== 3) throw new BadInputError(where, `text encoder output has rank ${out.dims.length}, expected 3`);
    const size = out.dims[1]! * out.dims[2]!;
    const embeddings = new Float32Array(prompts.length * size);
    prompts.forEach((p, i) => {
      const r = row.get(p)!;
      embeddings.set(out.data.subarray(r * size, (r + 1) * size), i * size);
    });
    return {
      embeddings,
      dims: [prompts.length, out.dims[1]!, out.dims[2]!],
      truncated: prompts.flatMap((p, i) => (cut.has(row.get(p)!) ? [i] : [])),
    };
  }

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    const n = request.prompts.length;
    if (n === 0) throw new BadInputError('prompts', 'no prompts');
    const { height, width } = { ...this.defaultSize, ...(request.height ? { height: request.height } : {}), ...(request.width ? { width: request.width } : {}) };
    const factor = this.bundle.vaeScaleFactor;
    if (height % factor !== 0 || width % factor !== 0 || height <= 0 || width <= 0) throw new BadInputError('height/width', `${height}x${width} must be positive multiples of ${factor}`);
    const lh = height / factor;
    const lw = width / factor;
    const channels = typeof this.unetIn.sample.shape[1] === 'number' ? this.unetIn.sample.shape[1] : 4;
    const imageSize = channels * lh * lw;
    const [, , staticH, staticW] = this.unetIn.sample.shape;
    if ((typeof staticH === 'number' && staticH !== lh) || (typeof staticW === 'number' && staticW !== lw)) {
      throw new BadInputError('height/width', `${height}x${width}: ${this.bundle.describe('unet/model.onnx')} is exported for ${Number(staticH) * factor}x${Number(staticW) * factor} images only`);
    }
    if (!request.latents && (!request.seeds || request.seeds.length !== n)) throw new BadInputError('seeds', `expected one seed per prompt (${n})`);
    if (request.latents && (request.latents.length !== n || request.latents.some((l) => l.length !== imageSize))) {
      throw new BadInputError('latents', `expected ${n} latents of ${channels}x${lh}x${lw}`);
    }

    const kind = request.scheduler ?? this.defaultScheduler;
    if (!request.scheduler && !kindOfClass(this.bundle.schedulerConfig._class_name)) {
      (request.log ?? this.log)(`scheduler ${String(this.bundle.schedulerConfig._class_name)} is not implemented; using ${SCHEDULER_CLASSES.ddim} with its config`);
    }
    const scheduler = createScheduler(kind, { ...this.schedulerConfig, ...request.schedulerConfig }, this.bundle.describe('scheduler/scheduler_config.json'));
    scheduler.setTimesteps(request.steps);

    // Per-image seeded streams: latents first, then that image's step noise.
    const rngs = request.seeds?.map((s) => new Rng(s));
    const draw = (rng: Rng, size: number) => {
      const out = new Float32Array(size);
      for (let i = 0; i < size; i++) out[i] = rng.normal();
      return out;
    };
    const initial = request.latents ?? rngs!.map((rng) => draw(rng, imageSize));
    const noise: StepNoise = request.noise ?? ((_step, image, size) => draw(rngs![image]!, size));
    let latents = concat(initial);
    if (scheduler.initNoiseSigma !== 1) latents = latents.map((v) => v * scheduler.initNoiseSigma);

    const useCond = this.unetIn.cond !== undefined;
    const cfg = request.guidance > 1 && !useCond;
    const log = request.log ?? this.log;
    const text = await this.encodePrompts(request.prompts, log);
    let hidden = text.embeddings;
    const seq = text.dims[1]!;
    const dim = text.dims[2]!;
    if (cfg) {
      const neg = request.negativePrompts;
      const negatives = neg === undefined ? request.prompts.map(() => '') : typeof neg === 'string' ? request.prompts.map(() => neg) : neg;
      if (negatives.length !== n) throw new BadInputError('negativePrompts', `expected ${n} negative prompts, got ${negatives.length}`);
      const uncond = await this.encodePrompts(negatives, log);
      hidden = concat([uncond.embeddings, text.embeddings]);
    }
    const batch = cfg ? 2 * n : n;
    const cond = useCond ? (() => {
      const e = guidanceScaleEmbedding(request.guidance - 1, this.unetIn.condDim);
      return concat(Array.from({ length: batch }, () => e));
    })() : undefined;

    const where = this.bundle.describe('unet/model.onnx');
    const ts = this.unetIn.timestep;
    // Converted once (float16 unets): the same every step.
    const hiddenTyped = typedOf(this.unetIn.hidden.type, hidden, where);
    const condTyped = this.unetIn.cond && cond ? typedOf(this.unetIn.cond.type, cond, where) : undefined;
    const timesteps = scheduler.timesteps;
    for (let s = 0; s < timesteps.length; s++) {
      if (request.signal?.aborted) throw new Error('generation cancelled');
      const t = timesteps[s]!;
      const input = scheduler.scaleModelInput(cfg ? concat([latents, latents]) : latents, s);
      const rows: Rows[] = [
        { name: this.unetIn.sample.name, type: this.unetIn.sample.type, data: typedOf(this.unetIn.sample.type, input, where), tail: [channels, lh, lw] },
        { name: this.unetIn.hidden.name, type: this.unetIn.hidden.type, data: hiddenTyped, tail: [seq, dim] },
      ];
      if (this.unetIn.cond && condTyped) rows.push({ name: this.unetIn.cond.name, type: this.unetIn.cond.type, data: condTyped, tail: [this.unetIn.condDim] });
      const timestepFeed = (size: number): Record<string, ort.Tensor> => ({
        [ts.name]: ts.shape.length === 0 ? tensorOf(ts.type, [t], [], where)
          : ts.shape[0] === 1 ? tensorOf(ts.type, [t], [1], where)
            : tensorOf(ts.type, new Array<number>(size).fill(t), [size], where),
      });
      const out = await runRows(this.unet, rows, batch, fixedBatch(this.unetIn.sample), timestepFeed, outputName(this.unet, ['out_sample', 'sample']), where);
      let eps = out.data;
      if (cfg) {
        const half = n * imageSize;
        const guided = new Float32Array(half);
        const g = request.guidance;
        for (let i = 0; i < half; i++) {
          const u = eps[i]!;
          guided[i] = u + g * (eps[half + i]! - u);
        }
        eps = guided;
      }
      latents = scheduler.step(eps, s, latents, imageSize, noise);
      request.onStep?.(s + 1, timesteps.length);
    }

    const images = await this.decode(latents, n, channels, lh, lw);
    const result: GeneratedImage[] = [];
    for (let i = 0; i < n; i++) {
      const { decoded, pixels } = images[i]!;
      const image: GeneratedImage = { prompt: request.prompts[i]!, seed: request.seeds?.[i], width, height, decoded, pixels };
      if (request.png !== false) image.png = await toPng(pixels, width, height);
      result.push(image);
    }
    return { images: result, scheduler: kind, timesteps: [...timesteps], truncated: text.truncated };
  }

  /**
   * latents / scaling_factor (+ shift_factor) through the VAE decoder, several images a call: at
   * the demo's 32 px one call for 50 images takes 0.6-0.75x the time of 50 calls, with the same bytes per
   * image (test/unit/diffusion-parity.test.ts). Calls are capped at DECODE_PIXELS output pixels, so
   * a 512 px model still decodes one image a call (its activations are ~130 MB per layer and image).
   */
  private async decode(latents: Float32Array, n: number, channels: number, lh: number, lw: number): Promise<{ decoded: Float32Array; pixels: Float32Array }[]> {
    const where = this.bundle.describe('vae_decoder/model.onnx');
    const specs = inputSpecs(this.vae, where);
    const spec = specs.get('latent_sample') ?? specs.get('latent') ?? [...specs.values()][0]!;
    if (specs.size !== 1) throw new BadInputError(where, `expected one input (latent_sample), got ${[...specs.keys()].join(', ')}`);
    const size = channels * lh * lw;
    const out: { decoded: Float32Array; pixels: Float32Array }[] = [];
    const scale = this.bundle.vaeScalingFactor;
    const shift = this.bundle.vaeShiftFactor;
    const factor = this.bundle.vaeScaleFactor;
    const perCall = fixedBatch(spec) ?? Math.max(1, Math.floor(DECODE_PIXELS / (lh * factor * lw * factor)));
    for (let first = 0; first < n; first += perCall) {
      const count = Math.min(perCall, n - first);
      const z = latents.subarray(first * size, (first + count) * size).map((v) => v / scale + shift);
      const rows: Rows[] = [{ name: spec.name, type: spec.type, data: typedOf(spec.type, z, where), tail: [channels, lh, lw] }];
      const res = await runRows(this.vae, rows, count, fixedBatch(spec), () => ({}), outputName(this.vae, ['sample']), where);
      const [, c, h, w] = res.dims as [number, number, number, number];
      if (c !== 3) throw new BadInputError(where, `decoder output has ${c} channels, expected 3`);
      const image = 3 * h * w;
      for (let k = 0; k < count; k++) {
        const decoded = res.data.slice(k * image, (k + 1) * image);
        const pixels = new Float32Array(image);
        for (let ch = 0; ch < 3; ch++) {
          for (let p = 0; p < h * w; p++) {
            const v = decoded[ch * h * w + p]! / 2 + 0.5;
            pixels[p * 3 + ch] = v < 0 ? 0 : v > 1 ? 1 : v;
          }
        }
        out.push({ decoded, pixels });
      }
    }
    return out;
  }

  async dispose(): Promise<void> {
    await Promise.all([this.textEncoder.release(), this.unet.release(), this.vae.release()]);
  }
}

/** [0, 1] HWC floats to an 8-bit RGB PNG (core/png.ts), rounding as diffusers' numpy_to_pil does. */
export async function toPng(pixels: Float32Array, width: number, height: number): Promise<Buffer> {
  const bytes = new Uint8Array(width * height * 3);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.round(pixels[i]! * 255);
  return encodeRgbPng(bytes, width, height);
}

// ------------------------------------------------------------------------------- per-process cache
const loaded = new ProcessCache<Text2Image>({ capacity: 2, release: (t) => t.dispose() });

/**
 * The Text2Image of a bundle, loaded once per process (keyed by location, device and threads) and
 * reused across batches; see ProcessCache for the policy (two stay loaded: their sessions hold the
 * weights in memory).
 */
export function loadText2Image(location: string, options: Text2ImageOptions = {}): Promise<Text2Image> {
  const key = JSON.stringify([locationKey(location, options.s3), options.device ?? 'cpu', options.intraOpThreads ?? 0, options.cacheRoot ?? '']);
  return loaded.get(key, () => Text2Image.create(location, options));
}

/** Releases every cached Text2Image (tests, shutdown). */
export function releaseText2Images(): Promise<void> {
  return loaded.clear();
}
