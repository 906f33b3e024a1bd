/** What the pipeline asks of every scheduler, and the helpers their steps share. */
import { SCHEDULER_CLASSES, type SchedulerConfig, type SchedulerKind } from './config';

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

export function noiseFor(noise: StepNoise | undefined, kind: SchedulerKind, stepIndex: number, image: number, size: number): Float32Array {
  if (!noise) throw new Error(`${SCHEDULER_CLASSES[kind]} step ${stepIndex} needs noise, and none was supplied`);
  const n = noise(stepIndex, image, size);
  if (n.length !== size) throw new Error(`noise for step ${stepIndex}, image ${image}: expected ${size} values, got ${n.length}`);
  return n;
}

/** x0 and eps from the model output (DDIM/LCM parameterisations). */
export function predictX0(config: SchedulerConfig, alphaProd: number, sample: number, out: number): number {
  const beta = 1 - alphaProd;
  if (config.prediction_type === 'epsilon') return (sample - Math.sqrt(beta) * out) / Math.sqrt(alphaProd);
  if (config.prediction_type === 'v_prediction') return Math.sqrt(alphaProd) * sample - Math.sqrt(beta) * out;
  return out;
}
