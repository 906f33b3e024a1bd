/**
 * diffusers' DPMSolverMultistepScheduler: DPM-Solver++ (data prediction) or DPM-Solver (noise prediction),
 * first or second order (`solver_order` 2 with `algorithm_type` dpmsolver++ is "DPM++ 2M"), midpoint or Heun
 * second-order terms, optional Karras sigmas. Deterministic variants only (the SDE ones draw noise).
 *
 * A multistep solver keeps the data predictions of the steps before: a scheduler serves one run
 * (`setTimesteps` clears that memory).
 */
import type { SchedulerConfig } from './config';
import type { Scheduler } from './scheduler';
import { roundHalfEven } from '../../../core/round-half-even';
import { alphasCumprod, checkSteps, interpIndex, trainSigmas } from './tables';

export class DpmSolverMultistepScheduler implements Scheduler {
  readonly kind = 'dpmpp_2m' as const;
  readonly initNoiseSigma = 1;
  timesteps: number[] = [];
  /** sigma per step, plus the final one (float32, as diffusers stores them). */
  sigmas: Float32Array = new Float32Array(0);
  private readonly alphas: Float32Array;
  /** Data (or noise) predictions of the last `solver_order` steps, oldest first. */
  private outputs: (Float64Array | undefined)[] = [];
  private lowerOrderNums = 0;

  constructor(readonly config: SchedulerConfig) {
    this.alphas = alphasCumprod(config);
    if (config.rescale_betas_zero_snr) this.alphas[this.alphas.length - 1] = 2 ** -24;
  }

  setTimesteps(steps: number): void {
    const c = this.config;
    const T = c.num_train_timesteps;
    checkSteps(steps, T);
    // lambda_t = log(alpha_t) - log(sigma_t) per train step; steps whose lambda is below lambda_min_clipped are cut from the top.
    const lambdas = Array.from(this.alphas, (a) => Math.fround(Math.log(Math.fround(Math.sqrt(a))) - Math.log(Math.fround(Math.sqrt(Math.fround(1 - a))))));
    const clipped = lambdas.filter((l) => l < c.lambda_min_clipped).length;
    const last = T - clipped;
    let ts: number[];
    if (c.timestep_spacing === 'linspace') {
      // np.linspace(0, last - 1, steps + 1).round()[::-1][:-1]
      const delta = (last - 1) / steps;
      ts = Array.from({ length: steps + 1 }, (_, i) => (i === steps ? last - 1 : i * delta)).map(roundHalfEven).reverse().slice(0, steps);
    } else if (c.timestep_spacing === 'leading') {
      const ratio = Math.floor(last / (steps + 1));
      ts = Array.from({ length: steps + 1 }, (_, i) => i * ratio).reverse().slice(0, steps).map((t) => t + c.steps_offset);
    } else {
      const ratio = T / steps;
      const count = Math.ceil(last / ratio);
      ts = Array.from({ length: count }, (_, i) => roundHalfEven(last - i * ratio) - 1);
    }
    const train = Array.from(trainSigmas(this.alphas));
    let sigmas: number[];
    if (c.use_karras_sigmas) {
      const rho = 7;
      const min = train[0]! ** (1 / rho);
      const max = train[T - 1]! ** (1 / rho);
      sigmas = Array.from({ length: steps }, (_, i) => (max + (steps === 1 ? 0 : i / (steps - 1)) * (min - max)) ** rho);
      const logs = train.map((s) => Math.log(s));
      ts = sigmas.map((s) => roundHalfEven(sigmaToT(s, logs)));
    } else {
      sigmas = ts.map((t) => interpIndex(t, train));
    }
    const final = c.final_sigmas_type === 'sigma_min' ? train[0]! : 0;
    this.sigmas = Float32Array.from([...sigmas, final]);
    this.timesteps = ts;
    this.outputs = new Array<Float64Array | undefined>(c.solver_order).fill(undefined);
    this.lowerOrderNums = 0;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  usesNoise(): boolean {
    return false;
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array): Float32Array {
    const c = this.config;
    const n = this.timesteps.length;
    // (diffusers' lower_order_second matters only to a third-order solver, which config resolution refuses.)
    const lowerOrderFinal = stepIndex === n - 1 && (c.euler_at_final || (c.lower_order_final && n < 15) || c.final_sigmas_type === 'zero');
    const converted = this.convert(modelOutput, sample, this.sigmas[stepIndex]!);
    this.outputs.shift();
    this.outputs.push(converted);
    const out = c.solver_order === 1 || this.lowerOrderNums < 1 || lowerOrderFinal
      ? this.firstOrder(converted, sample, stepIndex)
      : this.secondOrder(sample, stepIndex);
    if (this.lowerOrderNums < c.solver_order) this.lowerOrderNums++;
    return out;
  }

  /** The model output as the algorithm integrates it: x0 (DPM-Solver++) or epsilon (DPM-Solver). */
  private convert(m: Float32Array, x: Float32Array, sigma: number): Float64Array {
    const { alpha, sigma: s } = alphaSigma(sigma);
    const c = this.config;
    const out = new Float64Array(m.length);
    if (c.algorithm_type === 'dpmsolver++') {
      for (let i = 0; i < m.length; i++) {
        out[i] = c.prediction_type === 'epsilon' ? (x[i]! - s * m[i]!) / alpha
          : c.prediction_type === 'v_prediction' ? alpha * x[i]! - s * m[i]!
            : m[i]!;
      }
    } else {
      for (let i = 0; i < m.length; i++) {
        out[i] = c.prediction_type === 'epsilon' ? m[i]!
          : c.prediction_type === 'v_prediction' ? alpha * m[i]! + s * x[i]!
            : (x[i]! - alpha * m[i]!) / s;
      }
    }
    return out;
  }

  private firstOrder(m: Float64Array, x: Float32Array, stepIndex: number): Float32Array {
    const t = alphaSigma(this.sigmas[stepIndex + 1]!);
    const s = alphaSigma(this.sigmas[stepIndex]!);
    const h = lambda(t) - lambda(s);
    const out = new Float32Array(x.length);
    if (this.config.algorithm_type === 'dpmsolver++') {
      const a = t.sigma / s.sigma;
      const b = t.alpha * (Math.exp(-h) - 1);
      for (let i = 0; i < x.length; i++) out[i] = a * x[i]! - b * m[i]!;
    } else {
      const a = t.alpha / s.alpha;
      const b = t.sigma * (Math.exp(h) - 1);
      for (let i = 0; i < x.length; i++) out[i] = a * x[i]! - b * m[i]!;
    }
    return out;
  }

  private secondOrder(x: Float32Array, stepIndex: number): Float32Array {
    const c = this.config;
    const t = alphaSigma(this.sigmas[stepIndex + 1]!);
    const s0 = alphaSigma(this.sigmas[stepIndex]!);
    const s1 = alphaSigma(this.sigmas[stepIndex - 1]!);
    const m0 = this.outputs[this.outputs.length - 1]!;
    const m1 = this.outputs[this.outputs.length - 2]!;
    const h = lambda(t) - lambda(s0);
    const r0 = (lambda(s0) - lambda(s1)) / h;
    let a: number;
    let b0: number;
    let b1: number;
    if (c.algorithm_type === 'dpmsolver++') {
      a = t.sigma / s0.sigma;
      const e = t.alpha * (Math.exp(-h) - 1);
      b0 = -e;
      b1 = c.solver_type === 'midpoint' ? -0.5 * e : t.alpha * ((Math.exp(-h) - 1) / h + 1);
    } else {
      a = t.alpha / s0.alpha;
      const e = t.sigma * (Math.exp(h) - 1);
      b0 = -e;
      b1 = c.solver_type === 'midpoint' ? -0.5 * e : -t.sigma * ((Math.exp(h) - 1) / h - 1);
    }
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const d1 = (m0[i]! - m1[i]!) / r0;
      out[i] = a * x[i]! + b0 * m0[i]! + b1 * d1;
    }
    return out;
  }
}

/** alpha_t and sigma_t of the variance-preserving process at the (variance-exploding) sigma. */
function alphaSigma(sigma: number): { alpha: number; sigma: number } {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  return { alpha, sigma: sigma * alpha };
}

/** log(alpha) - log(sigma): +Infinity at sigma 0, where exp(-h) is 0 and the step returns x0. */
function lambda(p: { alpha: number; sigma: number }): number {
  return Math.log(p.alpha) - Math.log(p.sigma);
}

/** diffusers' `_sigma_to_t`: the fractional train step whose log-sigma is `sigma`'s, by linear interpolation. */
function sigmaToT(sigma: number, logSigmas: readonly number[]): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  let low = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigma - logSigmas[i]! >= 0) low = i;
  low = Math.min(low, logSigmas.length - 2);
  const lo = logSigmas[low]!;
  const hi = logSigmas[low + 1]!;
  const w = Math.min(1, Math.max(0, (lo - logSigma) / (lo - hi)));
  return (1 - w) * low + w * (low + 1);
}
