/**
 * The float32 tables diffusers' schedulers compute (betas, alphas_cumprod, spaced timesteps), rounded at
 * every operation as torch does, and the checks every scheduler shares.
 */
import { BadInputError } from '../../../core/errors';
import { roundHalfEven } from '../../../core/round-half-even';
import type { SchedulerConfig } from './config';

export const f32 = Math.fround;

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

/** ((1 - a) / a) ** 0.5 per train step: the variance-exploding sigmas, float32 as torch computes them. */
export function trainSigmas(alphasCumprod: Float32Array): Float32Array {
  return alphasCumprod.map((a) => f32(Math.sqrt(f32(f32(1 - a) / a))));
}

/** numpy.interp over integer abscissae 0..n-1 (float64 result). */
export function interpIndex(x: number, ys: ArrayLike<number>): number {
  const n = ys.length;
  if (x <= 0) return ys[0]!;
  if (x >= n - 1) return ys[n - 1]!;
  const i = Math.floor(x);
  const t = x - i;
  return ys[i]! + (ys[i + 1]! - ys[i]!) * t;
}

/** The spaced timesteps of DDIM/Euler (`set_timesteps`), as numbers (Euler keeps them float32). */
export function spacedTimesteps(config: SchedulerConfig, steps: number, float: boolean): number[] {
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

export function checkSteps(steps: number, trainSteps: number): void {
  if (!Number.isInteger(steps) || steps < 1) throw new BadInputError('steps', `expected a positive integer, got ${steps}`);
  if (steps > trainSteps) throw new BadInputError('steps', `${steps} exceeds the scheduler's num_train_timesteps (${trainSteps})`);
}

