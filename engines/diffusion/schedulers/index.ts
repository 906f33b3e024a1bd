/**
 * Diffusion schedulers in TypeScript, one per file, driven by a bundle's `scheduler/scheduler_config.json`
 * the way diffusers (0.35) drives DDIMScheduler, EulerAncestralDiscreteScheduler, EulerDiscreteScheduler,
 * LCMScheduler and DPMSolverMultistepScheduler: the same class defaults, the same `from_config` rules, the
 * same float32 tables (betas and alphas_cumprod are computed with float32 rounding at every operation, as
 * torch does), the same step math.
 *
 * Samples are flat Float32Arrays holding a batch of images back to back (NCHW); stochastic steps ask a
 * caller-supplied {@link StepNoise} for each image's noise, so a run can replay a reference's noise or draw
 * each image's noise from that image's own seeded stream.
 */
import { resolveSchedulerConfig, type SchedulerKind } from './config';
import { DdimScheduler } from './ddim';
import { DpmSolverMultistepScheduler } from './dpm-solver-multistep';
import { EulerAncestralScheduler } from './euler-ancestral';
import { EulerDiscreteScheduler } from './euler-discrete';
import { LcmScheduler } from './lcm';
import type { Scheduler } from './scheduler';

export { kindOfClass, resolveSchedulerConfig, SCHEDULER_CLASSES, SCHEDULER_KINDS, type SchedulerConfig, type SchedulerKind } from './config';
export { guidanceScaleEmbedding } from './lcm';
export type { Scheduler, StepNoise } from './scheduler';
export { alphasCumprod, linspaceF32 } from './tables';

/** A scheduler of `kind` from a raw scheduler_config.json object (class defaults for missing keys). */
export function createScheduler(kind: SchedulerKind, raw: Readonly<Record<string, unknown>>, where?: string): Scheduler {
  const config = resolveSchedulerConfig(kind, raw, where);
  switch (kind) {
    case 'ddim': return new DdimScheduler(config);
    case 'euler_a': return new EulerAncestralScheduler(config);
    case 'euler': return new EulerDiscreteScheduler(config);
    case 'lcm': return new LcmScheduler(config);
    case 'dpmpp_2m': return new DpmSolverMultistepScheduler(config);
  }
}
