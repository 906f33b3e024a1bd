/** diffusers' LCMScheduler, and the guidance embedding an LCM-distilled unet takes as `timestep_cond`. */
import { BadInputError } from '../../../core/errors';
import type { SchedulerConfig } from './config';
import { noiseFor, predictX0, type Scheduler, type StepNoise } from './scheduler';
import { alphasCumprod, checkSteps, f32 } from './tables';

export class LcmScheduler implements Scheduler {
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
