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
import { createScheduler, guidanceScaleEmbedding, kindOfClass, SCHEDULER_CLASSES, type Scheduler, type SchedulerKind, type StepNoise } from './schedulers';
import { ClipTokenizer } from './tokenizer';
import { unetInputs, type UnetInputs } from './unet-inputs';
import { concat, fixedBatch, inputSpecs, outputName, runRows, tensorOf, typedOf, type Rows, type TypedInput } from '../onnx/io';

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
  /**
   * One per prompt, or one for all; absent = "" (diffusers' default unconditional prompt), or zero
   * embeddings for an SDXL bundle that forces them (model_index.json force_zeros_for_empty_prompt).
   */
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
  /** SDXL's size conditioning ([height, width] pairs; default: the image's size, no crop, as diffusers). */
  sizeConditioning?: { originalSize?: readonly [number, number]; cropTopLeft?: readonly [number, number]; targetSize?: readonly [number, number] };
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

/** The latents of one generate call: n images of channels x lh x lw, for height x width pixels. */
interface LatentShape {
  n: number;
  height: number;
  width: number;
  lh: number;
  lw: number;
  channels: number;
  /** Elements per image's latents. */
  imageSize: number;
}

/** A text encoding of some prompts: [prompts, seq, dim], and SDXL's pooled embedding [prompts, dim]. */
export interface PromptEmbeddings {
  embeddings: Float32Array;
  dims: readonly number[];
  /** Prompts CLIP cut to its length. */
  truncated: number[];
  pooled?: { data: Float32Array; dim: number };
}

/**
 * The output diffusers takes for SDXL (`hidden_states[-2]`): Optimum exports every layer's hidden
 * state as `hidden_states.0` (the embeddings) … `hidden_states.N`, so the penultimate is N - 1.
 */
function penultimateOutput(session: ort.InferenceSession, where: string): string {
  const layers = session.outputNames.map((n) => /^hidden_states\.(\d+)$/.exec(n)?.[1]).filter((i): i is string => i !== undefined).map(Number);
  if (layers.length < 2) throw new BadInputError(where, `no per-layer hidden_states.<i> outputs (an SDXL text encoder exported with its hidden states); it has ${session.outputNames.join(', ')}`);
  return `hidden_states.${Math.max(...layers) - 1}`;
}

/** What the unet is conditioned on, in its inputs' typed form. */
interface Conditioning {
  cfg: boolean;
  /** Rows per unet pass: 2n under classifier-free guidance. */
  batch: number;
  seq: number;
  dim: number;
  hidden: TypedInput;
  cond?: TypedInput;
  /** SDXL: the pooled text embeddings and the size/crop numbers, one row per unet row. */
  added?: { textEmbeds: TypedInput; textEmbedsDim: number; timeIds: TypedInput };
  /** Prompts CLIP cut to its length. */
  truncated: number[];
}

/** Classifier-free guidance: uncond + g x (text - uncond), the halves of a doubled batch's output. */
function guide(eps: Float32Array, half: number, g: number): Float32Array {
  const guided = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const u = eps[i]!;
    guided[i] = u + g * (eps[half + i]! - u);
  }
  return guided;
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
    /** SDXL's second tokenizer and text encoder. */
    private readonly second?: { tokenizer: ClipTokenizer; textEncoder: ort.InferenceSession },
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
    const second = bundle.second && {
      tokenizer: await ClipTokenizer.load(bundle.second.tokenizer, bundle.describe),
      textEncoder: await open(bundle.second.textEncoder, 'text_encoder_2'),
    };
    const unet = await open(bundle.unet, 'unet');
    const vae = await open(bundle.vaeDecoder, 'vae_decoder');
    const unetIn = unetInputs(unet, bundle);
    log(`text-to-image: ${bundle.source} on ${device}; unet ${unetIn.sample.type}, timestep ${unetIn.timestep.type}${unetIn.timestep.shape.length ? ' [batch]' : ' scalar'}${unetIn.cond ? `, timestep_cond ${unetIn.condDim}` : ''}${second ? ', two text encoders, text_embeds + time_ids (SDXL)' : ''}`);
    return new Text2Image(bundle, tokenizer, textEncoder, unet, vae, unetIn, device, log, second);
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
   * CLIP embeddings of the prompts, [prompts, seq, dim]: the text encoder's last hidden state, or for
   * SDXL the penultimate hidden states of both encoders side by side ([prompts, seq, dim1 + dim2], as
   * diffusers' encode_prompt) and the second's projected pooled output ([prompts, pooledDim]).
   */
  async encodePrompts(prompts: readonly string[], log = this.log): Promise<PromptEmbeddings> {
    if (!this.second) return this.encodeWith(this.tokenizer, this.textEncoder, 'text_encoder', prompts, log, 'last');
    const first = await this.encodeWith(this.tokenizer, this.textEncoder, 'text_encoder', prompts, log, 'penultimate');
    // Truncation is said once: both tokenizers cut at the same length.
    const second = await this.encodeWith(this.second.tokenizer, this.second.textEncoder, 'text_encoder_2', prompts, () => {}, 'penultimate', true);
    const [n, seq, d1] = first.dims as [number, number, number];
    const d2 = second.dims[2]!;
    if (second.dims[1] !== seq) throw new BadInputError(this.bundle.describe('text_encoder_2/model.onnx'), `sequence length ${second.dims[1]}, the first text encoder's is ${seq}`);
    const embeddings = new Float32Array(n * seq * (d1 + d2));
    for (let t = 0; t < n * seq; t++) {
      embeddings.set(first.embeddings.subarray(t * d1, (t + 1) * d1), t * (d1 + d2));
      embeddings.set(second.embeddings.subarray(t * d2, (t + 1) * d2), t * (d1 + d2) + d1);
    }
    return { embeddings, dims: [n, seq, d1 + d2], truncated: first.truncated, pooled: second.pooled };
  }

  /**
   * One text encoder over the prompts. Each distinct prompt is encoded once: a batch's negative
   * prompts are usually all '' and its prompts repeat kept captions.
   */
  private async encodeWith(
    tokenizer: ClipTokenizer, session: ort.InferenceSession, part: string, prompts: readonly string[], log: (message: string) => void,
    layer: 'last' | 'penultimate', pooled = false,
  ): Promise<PromptEmbeddings> {
    const distinct = [...new Set(prompts)];
    const row = new Map(distinct.map((p, i) => [p, i]));
    const { ids, truncated } = tokenizer.encode(distinct);
    const cut = new Set(truncated.map((t) => t.index));
    for (const t of truncated) {
      log(`warning: prompt ${prompts.indexOf(distinct[t.index]!)} has ${t.tokens} tokens; CLIP takes ${tokenizer.maxLength}, so this part was dropped: "${tokenizer.removedText(distinct[t.index]!)}"`);
    }
    const where = this.bundle.describe(`${part}/model.onnx`);
    const specs = inputSpecs(session, where);
    const idsSpec = specs.get('input_ids') ?? [...specs.values()][0]!;
    const flat = ids.flat();
    const seq = tokenizer.maxLength;
    if (idsSpec.type !== 'int32' && idsSpec.type !== 'int64') throw new BadInputError(where, `input ${idsSpec.name} is ${idsSpec.type}, expected int32 or int64`);
    if (idsSpec.shape.length !== 2) throw new BadInputError(where, `input ${idsSpec.name} has rank ${idsSpec.shape.length}, expected 2`);
    const rows: Rows[] = [{ name: idsSpec.name, type: idsSpec.type, data: typedOf(idsSpec.type, flat, where), tail: [seq] }];
    for (const spec of specs.values()) {
      if (spec.name === idsSpec.name) continue;
      if (spec.name === 'attention_mask') rows.push({ name: spec.name, type: spec.type, data: typedOf(spec.type, flat.map(() => 1), where), tail: [seq] });
      else throw new BadInputError(where, `unsupported text encoder input ${spec.name}`);
    }
    const output = layer === 'last' ? outputName(session, ['last_hidden_state', 'hidden_states']) : penultimateOutput(session, where);
    const out = await runRows(session, rows, ids.length, fixedBatch(idsSpec), () => ({}), output, where);
    if (out.dims.length !== 3) throw new BadInputError(where, `text encoder output ${output} has rank ${out.dims.length}, expected 3`);
    const perRow = (data: Float32Array, size: number) => {
      const all = new Float32Array(prompts.length * size);
      prompts.forEach((p, i) => all.set(data.subarray(row.get(p)! * size, (row.get(p)! + 1) * size), i * size));
      return all;
    };
    let pooledOut: PromptEmbeddings['pooled'];
    if (pooled) {
      if (!session.outputNames.includes('text_embeds')) throw new BadInputError(where, `no text_embeds output (the projected pooled embedding SDXL's unet takes); it has ${session.outputNames.join(', ')}`);
      const p = await runRows(session, rows, ids.length, fixedBatch(idsSpec), () => ({}), 'text_embeds', where);
      const dim = p.data.length / ids.length;
      pooledOut = { data: perRow(p.data, dim), dim };
    }
    return {
      embeddings: perRow(out.data, out.dims[1]! * out.dims[2]!),
      dims: [prompts.length, out.dims[1]!, out.dims[2]!],
      truncated: prompts.flatMap((p, i) => (cut.has(row.get(p)!) ? [i] : [])),
      ...(pooledOut ? { pooled: pooledOut } : {}),
    };
  }

  /**
   * diffusers' StableDiffusionPipeline.__call__, step by step: 1. the latent shape; 2. the scheduler
   * and its timesteps; 3. the initial latents, each image from its own seeded stream; 4. the
   * conditioning (prompt embeddings, the negative ones under classifier-free guidance, or the
   * guidance embedding of a guidance-distilled unet); 5. the denoising loop; 6. the VAE decode;
   * 7. the images.
   */
  async generate(request: GenerateRequest): Promise<GenerateResult> {
    const log = request.log ?? this.log;
    const shape = this.latentShape(request);
    const { scheduler, kind } = this.prepareScheduler(request, log);
    const start = this.initialLatents(request, shape, scheduler.initNoiseSigma);
    const conditioning = await this.conditioning(request, shape, log);
    const latents = await this.denoise(request, shape, scheduler, start, conditioning);
    const decoded = await this.decode(latents, shape);
    const images = await this.images(request, shape, decoded);
    return { images, scheduler: kind, timesteps: [...scheduler.timesteps], truncated: conditioning.truncated };
  }

  /** Step 1: the latents' shape for the requested size, checked against the request and the export. */
  private latentShape(request: GenerateRequest): LatentShape {
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
    return { n, height, width, lh, lw, channels, imageSize };
  }

  /** Step 2: the scheduler asked for (else the bundle's own) with its timesteps set. */
  private prepareScheduler(request: GenerateRequest, log: (message: string) => void): { scheduler: Scheduler; kind: SchedulerKind } {
    const kind = request.scheduler ?? this.defaultScheduler;
    if (!request.scheduler && !kindOfClass(this.bundle.schedulerConfig._class_name)) {
      log(`scheduler ${String(this.bundle.schedulerConfig._class_name)} is not implemented; using ${SCHEDULER_CLASSES.ddim} with its config`);
    }
    const scheduler = createScheduler(kind, { ...this.schedulerConfig, ...request.schedulerConfig }, this.bundle.describe('scheduler/scheduler_config.json'));
    scheduler.setTimesteps(request.steps);
    return { scheduler, kind };
  }

  /**
   * Step 3: the initial latents (given, or drawn from each image's seeded stream, scaled by the
   * scheduler's initial sigma) and the step noise, drawn from the same streams after them.
   */
  private initialLatents(request: GenerateRequest, shape: LatentShape, initNoiseSigma: number): { latents: Float32Array; noise: StepNoise } {
    const rngs = request.seeds?.map((s) => new Rng(s));
    const draw = (rng: Rng, size: number) => {
      const out = new Float32Array(size);
      for (let i = 0; i < size; i++) out[i] = rng.normal();
      return out;
    };
    const initial = request.latents ?? rngs!.map((rng) => draw(rng, shape.imageSize));
    const noise: StepNoise = request.noise ?? ((_step, image, size) => draw(rngs![image]!, size));
    const latents = concat(initial);
    return { latents: initNoiseSigma === 1 ? latents : latents.map((v) => v * initNoiseSigma), noise };
  }

  /**
   * Step 4: what the unet is conditioned on. Classifier-free guidance doubles the batch (negative
   * prompts first, as diffusers); a guidance-distilled unet takes one pass and the guidance scale
   * as an embedding (`timestep_cond`) instead.
   */
  private async conditioning(request: GenerateRequest, shape: LatentShape, log: (message: string) => void): Promise<Conditioning> {
    const n = request.prompts.length;
    const useCond = this.unetIn.cond !== undefined;
    const cfg = request.guidance > 1 && !useCond;
    const text = await this.encodePrompts(request.prompts, log);
    let hidden = text.embeddings;
    let pooled = text.pooled?.data;
    if (cfg) {
      const neg = request.negativePrompts;
      // SDXL (force_zeros_for_empty_prompt): no negative prompt at all is zeros, not the embedding of "".
      const zeros = neg === undefined && this.bundle.forceZerosForEmptyPrompt;
      const negatives = neg === undefined ? request.prompts.map(() => '') : typeof neg === 'string' ? request.prompts.map(() => neg) : neg;
      if (negatives.length !== n) throw new BadInputError('negativePrompts', `expected ${n} negative prompts, got ${negatives.length}`);
      const uncond = zeros ? undefined : await this.encodePrompts(negatives, log);
      hidden = concat([uncond?.embeddings ?? new Float32Array(hidden.length), text.embeddings]);
      if (pooled) pooled = concat([uncond?.pooled?.data ?? new Float32Array(pooled.length), pooled]);
    }
    const batch = cfg ? 2 * n : n;
    const where = this.bundle.describe('unet/model.onnx');
    const cond = useCond ? concat(Array.from({ length: batch }, () => guidanceScaleEmbedding(request.guidance - 1, this.unetIn.condDim))) : undefined;
    const { textEmbeds, timeIds } = this.unetIn;
    let added: Conditioning['added'];
    if (textEmbeds && timeIds) {
      if (!pooled || !text.pooled) throw new BadInputError(where, 'an SDXL unet needs the pooled text embedding of the second text encoder');
      // diffusers' _get_add_time_ids: original size, crop's top-left, target size (defaults: the image's size, no crop).
      const size = request.sizeConditioning ?? {};
      const ids = [...(size.originalSize ?? [shape.height, shape.width]), ...(size.cropTopLeft ?? [0, 0]), ...(size.targetSize ?? [shape.height, shape.width])];
      added = {
        textEmbeds: typedOf(textEmbeds.type, pooled, where),
        textEmbedsDim: text.pooled.dim,
        timeIds: typedOf(timeIds.type, Array.from({ length: batch }, () => ids).flat(), where),
      };
    }
    return {
      cfg, batch, seq: text.dims[1]!, dim: text.dims[2]!, truncated: text.truncated,
      // Converted once (float16 unets): the same every step.
      hidden: typedOf(this.unetIn.hidden.type, hidden, where),
      cond: this.unetIn.cond && cond ? typedOf(this.unetIn.cond.type, cond, where) : undefined,
      ...(added ? { added } : {}),
    };
  }

  /** Step 5: the denoising loop, one unet pass a step (over the doubled batch under guidance). */
  private async denoise(request: GenerateRequest, shape: LatentShape, scheduler: Scheduler, start: { latents: Float32Array; noise: StepNoise }, c: Conditioning): Promise<Float32Array> {
    const where = this.bundle.describe('unet/model.onnx');
    const { sample, hidden, cond, condDim, timestep: ts } = this.unetIn;
    const timesteps = scheduler.timesteps;
    let latents = start.latents;
    for (let s = 0; s < timesteps.length; s++) {
      if (request.signal?.aborted) throw new Error('generation cancelled');
      const t = timesteps[s]!;
      const input = scheduler.scaleModelInput(c.cfg ? concat([latents, latents]) : latents, s);
      const rows: Rows[] = [
        { name: sample.name, type: sample.type, data: typedOf(sample.type, input, where), tail: [shape.channels, shape.lh, shape.lw] },
        { name: hidden.name, type: hidden.type, data: c.hidden, tail: [c.seq, c.dim] },
      ];
      if (cond && c.cond) rows.push({ name: cond.name, type: cond.type, data: c.cond, tail: [condDim] });
      if (this.unetIn.textEmbeds && this.unetIn.timeIds && c.added) {
        rows.push({ name: this.unetIn.textEmbeds.name, type: this.unetIn.textEmbeds.type, data: c.added.textEmbeds, tail: [c.added.textEmbedsDim] });
        rows.push({ name: this.unetIn.timeIds.name, type: this.unetIn.timeIds.type, data: c.added.timeIds, tail: [6] });
      }
      const timestepFeed = (size: number): Record<string, ort.Tensor> => ({
        [ts.name]: ts.shape.length === 0 ? tensorOf(ts.type, [t], [], where)
          : ts.shape[0] === 1 ? tensorOf(ts.type, [t], [1], where)
            : tensorOf(ts.type, new Array<number>(size).fill(t), [size], where),
      });
      const out = await runRows(this.unet, rows, c.batch, fixedBatch(sample), timestepFeed, outputName(this.unet, ['out_sample', 'sample']), where);
      const eps = c.cfg ? guide(out.data, shape.n * shape.imageSize, request.guidance) : out.data;
      latents = scheduler.step(eps, s, latents, shape.imageSize, start.noise);
      request.onStep?.(s + 1, timesteps.length);
    }
    return latents;
  }

  /** Step 7: the decoded pixels as the request's images (PNG unless `png: false`). */
  private async images(request: GenerateRequest, shape: LatentShape, decoded: readonly { decoded: Float32Array; pixels: Float32Array }[]): Promise<GeneratedImage[]> {
    const result: GeneratedImage[] = [];
    for (let i = 0; i < shape.n; i++) {
      const { decoded: raw, pixels } = decoded[i]!;
      const image: GeneratedImage = { prompt: request.prompts[i]!, seed: request.seeds?.[i], width: shape.width, height: shape.height, decoded: raw, pixels };
      if (request.png !== false) image.png = await toPng(pixels, shape.width, shape.height);
      result.push(image);
    }
    return result;
  }

  /**
   * Step 6: latents / scaling_factor (+ shift_factor) through the VAE decoder, several images a call: at
   * the demo's 32 px one call for 50 images takes 0.6-0.75x the time of 50 calls, with the same bytes per
   * image (test/unit/diffusion-parity.test.ts). Calls are capped at DECODE_PIXELS output pixels, so
   * a 512 px model still decodes one image a call (its activations are ~130 MB per layer and image).
   */
  private async decode(latents: Float32Array, { n, channels, lh, lw }: LatentShape): Promise<{ decoded: Float32Array; pixels: Float32Array }[]> {
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
