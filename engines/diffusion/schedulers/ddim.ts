/** diffusers' DDIMScheduler (eta = 0, the pipelines' default). */
import type { SchedulerConfig } from './config';
import type { Scheduler } from './scheduler';
import { alphasCumprod, checkSteps, f32, spacedTimesteps } from './tables';

export class DdimScheduler implements Scheduler {
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

