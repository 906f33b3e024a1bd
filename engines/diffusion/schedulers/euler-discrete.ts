/** diffusers' EulerDiscreteScheduler (s_churn = 0), and the sigma table it shares with its ancestral variant. */
import type { SchedulerConfig } from './config';
import type { Scheduler, StepNoise } from './scheduler';
import { alphasCumprod, checkSteps, f32, interpIndex, spacedTimesteps, trainSigmas } from './tables';

/** Shared by Euler and Euler ancestral. */
export abstract class EulerBase implements Scheduler {
  abstract readonly kind: 'euler' | 'euler_a';
  timesteps: number[] = [];
  sigmas: Float32Array = new Float32Array(0);
  protected readonly alphas: Float32Array;
  /** ((1 - a) / a) ** 0.5 per train timestep, float32 as torch computes it. */
  protected readonly trainSigmas: Float32Array;

  constructor(readonly config: SchedulerConfig) {
    this.alphas = alphasCumprod(config);
    if (config.rescale_betas_zero_snr) this.alphas[this.alphas.length - 1] = 2 ** -24;
    this.trainSigmas = trainSigmas(this.alphas);
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

export class EulerDiscreteScheduler extends EulerBase {
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
