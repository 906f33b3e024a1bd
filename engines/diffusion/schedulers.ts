/**
 * Diffusion schedulers in TypeScript, driven by a bundle's `scheduler/scheduler_config.json` the way
 * diffusers (0.35) drives DDIMScheduler, EulerAncestralDiscreteScheduler, EulerDiscreteScheduler and
 * LCMScheduler: the same class defaults, the same `from_config` rules, the same float32 tables (betas and
 * alphas_cumprod are computed with float32 rounding at every operation, as torch does), the same step math.
 *
 * Samples are flat Float32Arrays holding a batch of images back to back (NCHW); stochastic steps ask a
 * caller-supplied {@link StepNoise} for each image's noise, so a run can replay a reference's noise or draw
 * each image's noise from that image's own seeded stream.
 */
import { BadInputError } from '../../core/errors';

export type SchedulerKind = 'ddim' | 'euler_a' | 'euler' | 'lcm';
export const SCHEDULER_KINDS: readonly SchedulerKind[] = ['ddim', 'euler_a', 'euler', 'lcm'];

/** The diffusers class behind each kind. */
export const SCHEDULER_CLASSES: Readonly<Record<SchedulerKind, string>> = {
  ddim: 'DDIMScheduler',
  euler_a: 'EulerAncestralDiscreteScheduler',
  euler: 'EulerDiscreteScheduler',
  lcm: 'LCMScheduler',
};

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';

/** A scheduler config with every field the kind reads resolved (class defaults filled in). */
export interface SchedulerConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: BetaSchedule;
  trained_betas: number[] | null;
  prediction_type: PredictionType;
  timestep_spacing: TimestepSpacing;
  steps_offset: number;
  rescale_betas_zero_snr: boolean;
  /** DDIM, LCM. */
  clip_sample: boolean;
  clip_sample_range: number;
  set_alpha_to_one: boolean;
  thresholding: boolean;
  /** LCM. */
  original_inference_steps: number;
  timestep_scaling: number;
  /** Euler (discrete). */
  interpolation_type: string;
  use_karras_sigmas: boolean;
  use_exponential_sigmas: boolean;
  use_beta_sigmas: boolean;
  timestep_type: string;
  final_sigmas_type: string;
}

const COMMON = { num_train_timesteps: 1000, trained_betas: null, rescale_betas_zero_snr: false, prediction_type: 'epsilon' } as const;

/** Each class's `__init__` defaults, and so which keys it accepts. */
const CLASS_DEFAULTS: Readonly<Record<SchedulerKind, Readonly<Record<string, unknown>>>> = {
  ddim: {
    ...COMMON, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear', clip_sample: true, set_alpha_to_one: true,
    steps_offset: 0, thresholding: false, dynamic_thresholding_ratio: 0.995, clip_sample_range: 1.0, sample_max_value: 1.0,
    timestep_spacing: 'leading',
  },
  euler_a: { ...COMMON, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear', timestep_spacing: 'linspace', steps_offset: 0 },
  euler: {
    ...COMMON, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear', interpolation_type: 'linear', use_karras_sigmas: false,
    use_exponential_sigmas: false, use_beta_sigmas: false, sigma_min: null, sigma_max: null, timestep_spacing: 'linspace',
    timestep_type: 'discrete', steps_offset: 0, final_sigmas_type: 'zero',
  },
  lcm: {
    ...COMMON, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', original_inference_steps: 50, clip_sample: false,
    clip_sample_range: 1.0, set_alpha_to_one: true, steps_offset: 0, thresholding: false, dynamic_thresholding_ratio: 0.995,
    sample_max_value: 1.0, timestep_spacing: 'leading', timestep_scaling: 10.0,
  },
};

/** Fields a kind does not read get these (never used, but the config type stays total). */
const UNUSED: SchedulerConfig = {
  num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear', trained_betas: null, prediction_type: 'epsilon',
  timestep_spacing: 'leading', steps_offset: 0, rescale_betas_zero_snr: false, clip_sample: false, clip_sample_range: 1, set_alpha_to_one: true,
  thresholding: false, original_inference_steps: 50, timestep_scaling: 10, interpolation_type: 'linear', use_karras_sigmas: false,
  use_exponential_sigmas: false, use_beta_sigmas: false, timestep_type: 'discrete', final_sigmas_type: 'zero',
};

/** The kind a diffusers `_class_name` names, or undefined for a class we do not implement. */
export function kindOfClass(className: unknown): SchedulerKind | undefined {
  return SCHEDULER_KINDS.find((k) => SCHEDULER_CLASSES[k] === className);
}

/**
 * diffusers' `Class.from_config(config)`: keys listed in `_use_default_values` and private keys are dropped,
 * keys only the original class knows are ignored, and the class defaults fill the rest. `where` names the
 * config file in errors.
 */
export function resolveSchedulerConfig(kind: SchedulerKind, raw: Readonly<Record<string, unknown>>, where = 'scheduler_config.json'): SchedulerConfig {
  const defaults = CLASS_DEFAULTS[kind];
  const usedDefaults = Array.isArray(raw._use_default_values) ? new Set(raw._use_default_values as unknown[]) : new Set<unknown>();
  const merged: Record<string, unknown> = { ...UNUSED, ...defaults };
  for (const [key, value] of Object.entries(raw)) {
    if (key.startsWith('_') || usedDefaults.has(key) || !(key in defaults)) continue;
    merged[key] = value;
  }
  const config = merged as unknown as SchedulerConfig;
  const bad = (field: string, why: string) => new BadInputError(where, `${field}: ${why}`);
  for (const field of ['num_train_timesteps', 'beta_start', 'beta_end', 'steps_offset', 'original_inference_steps', 'timestep_scaling', 'clip_sample_range'] as const) {
    if (typeof config[field] !== 'number' || !Number.isFinite(config[field])) throw bad(field, `expected a number, got ${JSON.stringify(config[field])}`);
  }
  if (!Number.isInteger(config.num_train_timesteps) || config.num_train_timesteps < 1) throw bad('num_train_timesteps', 'expected a positive integer');
  if (!['linear', 'scaled_linear', 'squaredcos_cap_v2'].includes(config.beta_schedule)) throw bad('beta_schedule', `${JSON.stringify(config.beta_schedule)} is not supported (linear, scaled_linear, squaredcos_cap_v2)`);
  if (!['leading', 'trailing', 'linspace'].includes(config.timestep_spacing)) throw bad('timestep_spacing', `${JSON.stringify(config.timestep_spacing)} is not supported (leading, trailing, linspace)`);
  const predictions: PredictionType[] = kind === 'euler_a' ? ['epsilon', 'v_prediction'] : ['epsilon', 'v_prediction', 'sample'];
  if (!predictions.includes(config.prediction_type)) throw bad('prediction_type', `${JSON.stringify(config.prediction_type)} is not supported by ${SCHEDULER_CLASSES[kind]} (${predictions.join(', ')})`);
  if (config.trained_betas !== null && (!Array.isArray(config.trained_betas) || config.trained_betas.length !== config.num_train_timesteps || config.trained_betas.some((b) => typeof b !== 'number'))) {
    throw bad('trained_betas', `expected null or ${config.num_train_timesteps} numbers`);
  }
  if (config.thresholding) throw bad('thresholding', 'dynamic thresholding is not implemented');
  if (kind === 'euler') {
    if (config.interpolation_type !== 'linear') throw bad('interpolation_type', `${JSON.stringify(config.interpolation_type)} is not implemented (linear)`);
    if (config.use_karras_sigmas || config.use_exponential_sigmas || config.use_beta_sigmas) throw bad('use_karras_sigmas', 'karras/exponential/beta sigmas are not implemented');
    if (config.timestep_type !== 'discrete') throw bad('timestep_type', `${JSON.stringify(config.timestep_type)} is not implemented (discrete)`);
    if (!['zero', 'sigma_min'].includes(config.final_sigmas_type)) throw bad('final_sigmas_type', `${JSON.stringify(config.final_sigmas_type)} is not supported (zero, sigma_min)`);
  }
  return config;
}

// ------------------------------------------------------------------------------------ float32 tables
const f32 = Math.fround;

/** torch.linspace(start, end, steps, dtype=float32) on the CPU: float32 step, filled from both ends. */
export function linspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = start;
    return out;
  }
  const s = f32(start);
  const e = f32(end);
  const step = f32(f32(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) out[i] = i < halfway ? f32(s + f32(step * i)) : f32(e - f32(step * (steps - i - 1)));
  return out;
}

/** diffusers' betas_for_alpha_bar (cosine), computed in float64 then stored as float32. */
function cosineBetas(n: number, maxBeta = 0.999): Float32Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
  const betas = new Float32Array(n);
  for (let i = 0; i < n; i++) betas[i] = Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), maxBeta);
  return betas;
}

function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const n = betas.length;
  const sqrtBar = new Float32Array(n);
  let cum = 1;
  for (let i = 0; i < n; i++) {
    cum = f32(cum * f32(1 - betas[i]!));
    sqrtBar[i] = Math.sqrt(cum);
  }
  const first = sqrtBar[0]!;
  const last = sqrtBar[n - 1]!;
  for (let i = 0; i < n; i++) sqrtBar[i] = f32(f32(sqrtBar[i]! - last) * f32(first / f32(first - last)));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const bar = f32(sqrtBar[i]! * sqrtBar[i]!);
    const prev = i === 0 ? 1 : f32(sqrtBar[i - 1]! * sqrtBar[i - 1]!);
    out[i] = f32(1 - (i === 0 ? bar : f32(bar / prev)));
  }
  return out;
}

/** betas and alphas_cumprod as the diffusers constructors compute them (float32). */
export function alphasCumprod(config: SchedulerConfig): Float32Array {
  const n = config.num_train_timesteps;
  let betas: Float32Array;
  if (config.trained_betas) betas = Float32Array.from(config.trained_betas);
  else if (config.beta_schedule === 'linear') betas = linspaceF32(config.beta_start, config.beta_end, n);
  else if (config.beta_schedule === 'scaled_linear') betas = linspaceF32(config.beta_start ** 0.5, config.beta_end ** 0.5, n).map((b) => f32(b * b));
  else betas = cosineBetas(n);
  if (config.rescale_betas_zero_snr) betas = rescaleZeroTerminalSnr(betas);
  const out = new Float32Array(n);
  let cum = 1;
  for (let i = 0; i < n; i++) {
    cum = f32(cum * f32(1 - betas[i]!));
    out[i] = cum;
  }
  return out;
}

/** numpy.interp over integer abscissae 0..n-1 (float64 result). */
function interpIndex(x: number, ys: ArrayLike<number>): number {
  const n = ys.length;
  if (x <= 0) return ys[0]!;
  if (x >= n - 1) return ys[n - 1]!;
  const i = Math.floor(x);
  const t = x - i;
  return ys[i]! + (ys[i + 1]! - ys[i]!) * t;
}

/** The spaced timesteps of DDIM/Euler (`set_timesteps`), as numbers (Euler keeps them float32). */
function spacedTimesteps(config: SchedulerConfig, steps: number, float: boolean): number[] {
  const T = config.num_train_timesteps;
  let ts: number[];
  if (config.timestep_spacing === 'linspace') {
    // np.linspace(0, T - 1, steps) (float64), reversed; DDIM rounds it, Euler casts to float32.
    const delta = steps === 1 ? 0 : (T - 1) / (steps - 1);
    ts = Array.from({ length: steps }, (_, i) => i * delta);
    if (steps > 1) ts[steps - 1] = T - 1;
    ts = ts.reverse().map((t) => (float ? f32(t) : roundHalfEven(t)));
  } else if (config.timestep_spacing === 'leading') {
    const ratio = Math.floor(T / steps);
    ts = Array.from({ length: steps }, (_, i) => i * ratio).reverse().map((t) => t + config.steps_offset);
  } else {
    const ratio = T / steps;
    // np.arange(T, 0, -ratio), rounded, minus one.
    const count = Math.ceil((0 - T) / -ratio);
    ts = Array.from({ length: count }, (_, i) => roundHalfEven(T - i * ratio) - 1);
  }
  if (ts.some((t) => t < 0 || t > T - 1)) {
    throw new BadInputError('scheduler_config.json', `timesteps ${ts.join(', ')} fall outside 0..${T - 1} (steps_offset ${config.steps_offset}, ${steps} steps)`);
  }
  return ts;
}

/** numpy's round (half to even). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// ---------------------------------------------------------------------------------------- schedulers
/** Noise for image `image` of the batch at step `stepIndex`: `size` standard-normal values. */
export type StepNoise = (stepIndex: number, image: number, size: number) => Float32Array;

export interface Scheduler {
  readonly kind: SchedulerKind;
  readonly config: SchedulerConfig;
  /** The timesteps of the run, after {@link setTimesteps}: what the unet gets. */
  readonly timesteps: readonly number[];
  /** Multiplies the initial latents. */
  readonly initNoiseSigma: number;
  setTimesteps(steps: number): void;
  /** The unet's input for step `stepIndex` (Euler divides by sqrt(sigma^2 + 1)); may return `sample` itself. */
  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array;
  /** The previous sample from the guided model output. `imageSize` = elements per image (noise is per image). */
  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, imageSize: number, noise?: StepNoise): Float32Array;
  /** Whether step `stepIndex` draws noise. */
  usesNoise(stepIndex: number): boolean;
}

function noiseFor(noise: StepNoise | undefined, kind: SchedulerKind, stepIndex: number, image: number, size: number): Float32Array {
  if (!noise) throw new Error(`${SCHEDULER_CLASSES[kind]} step ${stepIndex} needs noise, and none was supplied`);
  const n = noise(stepIndex, image, size);
  if (n.length !== size) throw new Error(`noise for step ${stepIndex}, image ${image}: expected ${size} values, got ${n.length}`);
  return n;
}

/** x0 and eps from the model output (DDIM/LCM parameterisations). */
function predictX0(config: SchedulerConfig, alphaProd: number, sample: number, out: number): number {
  const beta = 1 - alphaProd;
  if (config.prediction_type === 'epsilon') return (sample - Math.sqrt(beta) * out) / Math.sqrt(alphaProd);
  if (config.prediction_type === 'v_prediction') return Math.sqrt(alphaProd) * sample - Math.sqrt(beta) * out;
  return out;
}

class DdimScheduler implements Scheduler {
  readonly kind = 'ddim' as const;
  readonly initNoiseSigma = 1;
  timesteps: number[] = [];
  private readonly alphas: Float32Array;
  private readonly finalAlpha: number;
  private steps = 0;

  constructor(readonly config: SchedulerConfig) {
    this.alphas = alphasCumprod(config);
    this.finalAlpha = config.set_alpha_to_one ? 1 : this.alphas[0]!;
  }

  setTimesteps(steps: number): void {
    checkSteps(steps, this.config.num_train_timesteps);
    this.steps = steps;
    this.timesteps = spacedTimesteps(this.config, steps, false);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  usesNoise(): boolean {
    return false;
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array): Float32Array {
    const t = this.timesteps[stepIndex]!;
    const prevT = t - Math.floor(this.config.num_train_timesteps / this.steps);
    const a = this.alphas[t]!;
    const aPrev = prevT >= 0 ? this.alphas[prevT]! : this.finalAlpha;
    const sqrtA = f32(Math.sqrt(a));
    const sqrtB = f32(Math.sqrt(f32(1 - a)));
    const sqrtAPrev = f32(Math.sqrt(aPrev));
    // eta = 0 (the pipeline's default): std_dev_t = 0.
    const dirCoef = f32(Math.sqrt(f32(1 - aPrev)));
    const clip = this.config.clip_sample ? this.config.clip_sample_range : Infinity;
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      const m = modelOutput[i]!;
      let x0: number;
      let eps: number;
      if (this.config.prediction_type === 'epsilon') {
        x0 = (x - sqrtB * m) / sqrtA;
        eps = m;
      } else if (this.config.prediction_type === 'v_prediction') {
        x0 = sqrtA * x - sqrtB * m;
        eps = sqrtA * m + sqrtB * x;
      } else {
        x0 = m;
        eps = (x - sqrtA * x0) / sqrtB;
      }
      if (x0 > clip) x0 = clip;
      else if (x0 < -clip) x0 = -clip;
      out[i] = sqrtAPrev * x0 + dirCoef * eps;
    }
    return out;
  }
}

/** Shared by Euler and Euler ancestral. */
abstract class EulerBase implements Scheduler {
  abstract readonly kind: 'euler' | 'euler_a';
  timesteps: number[] = [];
  sigmas: Float32Array = new Float32Array(0);
  protected readonly alphas: Float32Array;
  /** ((1 - a) / a) ** 0.5 per train timestep, float32 as torch computes it. */
  protected readonly trainSigmas: Float32Array;

  constructor(readonly config: SchedulerConfig) {
    this.alphas = alphasCumprod(config);
    if (config.rescale_betas_zero_snr) this.alphas[this.alphas.length - 1] = 2 ** -24;
    this.trainSigmas = this.alphas.map((a) => f32(Math.sqrt(f32(f32(1 - a) / a))));
  }

  get initNoiseSigma(): number {
    let max = 0;
    for (const s of this.sigmas) max = Math.max(max, s);
    if (this.config.timestep_spacing === 'linspace' || this.config.timestep_spacing === 'trailing') return max;
    return f32(Math.sqrt(f32(f32(max * max) + 1)));
  }

  setTimesteps(steps: number): void {
    checkSteps(steps, this.config.num_train_timesteps);
    const ts = spacedTimesteps(this.config, steps, true).map((t) => f32(t));
    this.timesteps = ts;
    const sigmas = new Float32Array(steps + 1);
    for (let i = 0; i < steps; i++) sigmas[i] = interpIndex(ts[i]!, this.trainSigmas);
    sigmas[steps] = this.finalSigma();
    this.sigmas = sigmas;
  }

  protected finalSigma(): number {
    return 0;
  }

  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    const sigma = this.sigmas[stepIndex]!;
    const scale = f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) out[i] = sample[i]! / scale;
    return out;
  }

  /** x0 from the model output at `sigma`. */
  protected x0(sigma: number, x: number, m: number): number {
    if (this.config.prediction_type === 'epsilon') return x - sigma * m;
    if (this.config.prediction_type === 'v_prediction') return m * (-sigma / Math.sqrt(sigma * sigma + 1)) + x / (sigma * sigma + 1);
    return m;
  }

  abstract usesNoise(stepIndex: number): boolean;
  abstract step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, imageSize: number, noise?: StepNoise): Float32Array;
}

class EulerAncestralScheduler extends EulerBase {
  readonly kind = 'euler_a' as const;

  usesNoise(): boolean {
    return true;
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, imageSize: number, noise?: StepNoise): Float32Array {
    const sigma = this.sigmas[stepIndex]!;
    const sigmaTo = this.sigmas[stepIndex + 1]!;
    const sigmaUp = f32(Math.sqrt(f32(f32(sigmaTo * sigmaTo) * f32(f32(sigma * sigma) - f32(sigmaTo * sigmaTo))) / f32(sigma * sigma)));
    const sigmaDown = f32(Math.sqrt(f32(f32(sigmaTo * sigmaTo) - f32(sigmaUp * sigmaUp))));
    const dt = f32(sigmaDown - sigma);
    const out = new Float32Array(sample.length);
    const images = sample.length / imageSize;
    for (let b = 0; b < images; b++) {
      const z = noiseFor(noise, this.kind, stepIndex, b, imageSize);
      for (let j = 0; j < imageSize; j++) {
        const i = b * imageSize + j;
        const x = sample[i]!;
        const x0 = this.x0(sigma, x, modelOutput[i]!);
        const derivative = (x - x0) / sigma;
        out[i] = x + derivative * dt + z[j]! * sigmaUp;
      }
    }
    return out;
  }
}

class EulerDiscreteScheduler extends EulerBase {
  readonly kind = 'euler' as const;

  protected override finalSigma(): number {
    if (this.config.final_sigmas_type === 'sigma_min') return f32(Math.sqrt(f32(f32(1 - this.alphas[0]!) / this.alphas[0]!)));
    return 0;
  }

  usesNoise(): boolean {
    return false;
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array): Float32Array {
    // s_churn = 0 (the default): gamma = 0, sigma_hat = sigma.
    const sigma = this.sigmas[stepIndex]!;
    const dt = f32(this.sigmas[stepIndex + 1]! - sigma);
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      const x0 = this.x0(sigma, x, modelOutput[i]!);
      out[i] = x + ((x - x0) / sigma) * dt;
    }
    return out;
  }
}

class LcmScheduler implements Scheduler {
  readonly kind = 'lcm' as const;
  readonly initNoiseSigma = 1;
  timesteps: number[] = [];
  private readonly alphas: Float32Array;
  private readonly finalAlpha: number;

  constructor(readonly config: SchedulerConfig) {
    this.alphas = alphasCumprod(config);
    this.finalAlpha = config.set_alpha_to_one ? 1 : this.alphas[0]!;
  }

  setTimesteps(steps: number): void {
    const original = this.config.original_inference_steps;
    const T = this.config.num_train_timesteps;
    if (original > T) throw new BadInputError('scheduler_config.json', `original_inference_steps ${original} exceeds num_train_timesteps ${T}`);
    checkSteps(steps, T);
    if (steps > original) throw new BadInputError('steps', `${steps} steps exceed the LCM schedule's original_inference_steps (${original})`);
    const k = Math.floor(T / original);
    // lcm_origin_timesteps = [1..original] * k - 1, reversed; take `steps` evenly spaced indices (floor).
    const origin = Array.from({ length: original }, (_, i) => (i + 1) * k - 1).reverse();
    this.timesteps = Array.from({ length: steps }, (_, i) => origin[Math.floor(i * (original / steps))]!);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  usesNoise(stepIndex: number): boolean {
    return stepIndex !== this.timesteps.length - 1;
  }

  /** c_skip and c_out of the consistency boundary condition at timestep t. */
  boundaryScalings(t: number): { cSkip: number; cOut: number } {
    const sigmaData = 0.5;
    const scaled = t * this.config.timestep_scaling;
    return { cSkip: sigmaData ** 2 / (scaled ** 2 + sigmaData ** 2), cOut: scaled / Math.sqrt(scaled ** 2 + sigmaData ** 2) };
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, imageSize: number, noise?: StepNoise): Float32Array {
    const t = this.timesteps[stepIndex]!;
    const prevT = stepIndex + 1 < this.timesteps.length ? this.timesteps[stepIndex + 1]! : t;
    const a = this.alphas[t]!;
    const aPrev = prevT >= 0 ? this.alphas[prevT]! : this.finalAlpha;
    const { cSkip, cOut } = this.boundaryScalings(t);
    const c = this.config;
    const clip = c.clip_sample ? c.clip_sample_range : Infinity;
    const last = !this.usesNoise(stepIndex);
    const sqrtAPrev = f32(Math.sqrt(aPrev));
    const sqrtBPrev = f32(Math.sqrt(f32(1 - aPrev)));
    const out = new Float32Array(sample.length);
    const images = sample.length / imageSize;
    for (let b = 0; b < images; b++) {
      const z = last ? undefined : noiseFor(noise, this.kind, stepIndex, b, imageSize);
      for (let j = 0; j < imageSize; j++) {
        const i = b * imageSize + j;
        let x0 = predictX0(c, a, sample[i]!, modelOutput[i]!);
        if (x0 > clip) x0 = clip;
        else if (x0 < -clip) x0 = -clip;
        const denoised = cOut * x0 + cSkip * sample[i]!;
        out[i] = z ? sqrtAPrev * denoised + sqrtBPrev * z[j]! : denoised;
      }
    }
    return out;
  }
}

function checkSteps(steps: number, trainSteps: number): void {
  if (!Number.isInteger(steps) || steps < 1) throw new BadInputError('steps', `expected a positive integer, got ${steps}`);
  if (steps > trainSteps) throw new BadInputError('steps', `${steps} exceeds the scheduler's num_train_timesteps (${trainSteps})`);
}

/** A scheduler of `kind` from a raw scheduler_config.json object (class defaults for missing keys). */
export function createScheduler(kind: SchedulerKind, raw: Readonly<Record<string, unknown>>, where?: string): Scheduler {
  const config = resolveSchedulerConfig(kind, raw, where);
  switch (kind) {
    case 'ddim': return new DdimScheduler(config);
    case 'euler_a': return new EulerAncestralScheduler(config);
    case 'euler': return new EulerDiscreteScheduler(config);
    case 'lcm': return new LcmScheduler(config);
  }
}

/**
 * diffusers' get_guidance_scale_embedding for LCM's `timestep_cond`: w (= guidance - 1) scaled by 1000 into
 * `dim` sinusoidal features (sin half, then cos half, zero-padded when dim is odd), float32.
 */
export function guidanceScaleEmbedding(w: number, dim: number): Float32Array {
  const half = Math.floor(dim / 2);
  const out = new Float32Array(dim);
  const scale = f32(Math.log(10000) / (half - 1));
  const ws = f32(f32(w) * 1000);
  for (let i = 0; i < half; i++) {
    const freq = f32(Math.exp(f32(i * -scale)));
    const arg = f32(ws * freq);
    out[i] = Math.sin(arg);
    out[half + i] = Math.cos(arg);
  }
  return out;
}
