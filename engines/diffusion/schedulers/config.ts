/**
 * Scheduler configs the way diffusers (0.35) reads a bundle's `scheduler/scheduler_config.json`: each
 * class's `__init__` defaults, the `from_config` rules, and the checks for what is not implemented here.
 */
import { BadInputError } from '../../../core/errors';

export type SchedulerKind = 'ddim' | 'euler_a' | 'euler' | 'lcm' | 'dpmpp_2m';
export const SCHEDULER_KINDS: readonly SchedulerKind[] = ['ddim', 'euler_a', 'euler', 'lcm', 'dpmpp_2m'];

/** The diffusers class behind each kind. */
export const SCHEDULER_CLASSES: Readonly<Record<SchedulerKind, string>> = {
  ddim: 'DDIMScheduler',
  euler_a: 'EulerAncestralDiscreteScheduler',
  euler: 'EulerDiscreteScheduler',
  lcm: 'LCMScheduler',
  dpmpp_2m: 'DPMSolverMultistepScheduler',
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
  /** DPM-Solver multistep. */
  solver_order: number;
  algorithm_type: string;
  solver_type: string;
  lower_order_final: boolean;
  euler_at_final: boolean;
  lambda_min_clipped: number;
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
  dpmpp_2m: {
    ...COMMON, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear', solver_order: 2, thresholding: false,
    dynamic_thresholding_ratio: 0.995, sample_max_value: 1.0, algorithm_type: 'dpmsolver++', solver_type: 'midpoint',
    lower_order_final: true, euler_at_final: false, use_karras_sigmas: false, use_exponential_sigmas: false, use_beta_sigmas: false,
    use_lu_lambdas: false, use_flow_sigmas: false, flow_shift: 1.0, final_sigmas_type: 'zero', lambda_min_clipped: -Infinity,
    variance_type: null, timestep_spacing: 'linspace', steps_offset: 0, use_dynamic_shifting: false, time_shift_type: 'exponential',
  },
};

/** Fields a kind does not read get these (never used, but the config type stays total). */
const UNUSED: SchedulerConfig = {
  num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear', trained_betas: null, prediction_type: 'epsilon',
  timestep_spacing: 'leading', steps_offset: 0, rescale_betas_zero_snr: false, clip_sample: false, clip_sample_range: 1, set_alpha_to_one: true,
  thresholding: false, original_inference_steps: 50, timestep_scaling: 10, interpolation_type: 'linear', use_karras_sigmas: false,
  use_exponential_sigmas: false, use_beta_sigmas: false, timestep_type: 'discrete', final_sigmas_type: 'zero',
  solver_order: 2, algorithm_type: 'dpmsolver++', solver_type: 'midpoint', lower_order_final: true, euler_at_final: false,
  lambda_min_clipped: -Infinity,
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
  if (kind === 'dpmpp_2m') checkDpmSolver(merged, bad);
  return config;
}


/** What DPMSolverMultistepScheduler's config may ask of the implementation here. */
function checkDpmSolver(c: Readonly<Record<string, unknown>>, bad: (field: string, why: string) => BadInputError): void {
  if (c.solver_order !== 1 && c.solver_order !== 2) throw bad('solver_order', `${JSON.stringify(c.solver_order)} is not implemented (1, 2)`);
  // diffusers maps the names it has retired onto the ones it keeps.
  const algorithm = c.algorithm_type === 'deis' ? 'dpmsolver++' : c.algorithm_type;
  if (algorithm !== 'dpmsolver++' && algorithm !== 'dpmsolver') throw bad('algorithm_type', `${JSON.stringify(c.algorithm_type)} is not implemented (dpmsolver++, dpmsolver; the SDE variants are not)`);
  const solver = ['logrho', 'bh1', 'bh2'].includes(c.solver_type as string) ? 'midpoint' : c.solver_type;
  if (solver !== 'midpoint' && solver !== 'heun') throw bad('solver_type', `${JSON.stringify(c.solver_type)} is not supported (midpoint, heun)`);
  (c as Record<string, unknown>).algorithm_type = algorithm;
  (c as Record<string, unknown>).solver_type = solver;
  for (const flag of ['use_exponential_sigmas', 'use_beta_sigmas', 'use_lu_lambdas', 'use_flow_sigmas', 'use_dynamic_shifting'] as const) {
    if (c[flag]) throw bad(flag, 'is not implemented');
  }
  if (c.variance_type !== null && c.variance_type !== undefined) throw bad('variance_type', `${JSON.stringify(c.variance_type)} is not implemented`);
  if (!['zero', 'sigma_min'].includes(c.final_sigmas_type as string)) throw bad('final_sigmas_type', `${JSON.stringify(c.final_sigmas_type)} is not supported (zero, sigma_min)`);
  if (algorithm === 'dpmsolver' && c.final_sigmas_type === 'zero') throw bad('final_sigmas_type', 'zero is not supported with algorithm_type dpmsolver (diffusers refuses it too): use sigma_min');
  // JSON has no -Infinity: diffusers writes it as a bare `-Infinity`, a parsed file as null.
  if (c.lambda_min_clipped === null) (c as Record<string, unknown>).lambda_min_clipped = -Infinity;
  if (typeof c.lambda_min_clipped !== 'number' || Number.isNaN(c.lambda_min_clipped)) throw bad('lambda_min_clipped', `expected a number, got ${JSON.stringify(c.lambda_min_clipped)}`);
  for (const flag of ['lower_order_final', 'euler_at_final', 'use_karras_sigmas'] as const) {
    if (typeof c[flag] !== 'boolean') throw bad(flag, `expected true or false, got ${JSON.stringify(c[flag])}`);
  }
}
