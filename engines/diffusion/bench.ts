import { loadText2Image, type Device } from './pipeline';

export interface GenerateThroughput {
  images_per_s: number;
  steps: number;
  guidance: number;
  batch: number;
  /** Timed calls (after the warm-up). */
  batches: number;
  width: number;
  height: number;
  scheduler: string;
  device: Device;
  /** Seconds of the first (warm-up) call, session creation excluded. */
  warmup_s: number;
}

/**
 * Images per second of a bundle at the default step count (the experiment config's generate.steps
 * default, 25) and guidance 7.5, batches of `batch` images at the bundle's default size, after one warm-up
 * batch, pixels out (no PNG encoding, as the generate stage runs it). For `generate.sd.tiny`: `generateThroughput('test/fixtures/tiny-sd')`.
 */
export async function generateThroughput(
  bundlePath: string,
  options: { steps?: number; batch?: number; batches?: number; guidance?: number; device?: Device; intraOpThreads?: number } = {},
): Promise<GenerateThroughput> {
  const steps = options.steps ?? 25;
  const batch = options.batch ?? 4;
  const batches = options.batches ?? 2;
  const device = options.device ?? 'cpu';
  const guidance = options.guidance ?? 7.5;
  const model = await loadText2Image(bundlePath, { device, intraOpThreads: options.intraOpThreads });
  const request = (b: number) => ({
    prompts: Array.from({ length: batch }, (_, i) => `a photo of the digit ${i} in red`),
    seeds: Array.from({ length: batch }, (_, i) => b * batch + i),
    steps,
    guidance,
    // As the generate stage calls it: pixels out, PNGs encoded by the stage, in parallel with its uploads.
    png: false,
  });
  let start = performance.now();
  await model.generate(request(0));
  const warmup = (performance.now() - start) / 1000;
  start = performance.now();
  for (let b = 1; b <= batches; b++) await model.generate(request(b));
  const seconds = (performance.now() - start) / 1000;
  const { width, height } = model.defaultSize;
  return {
    images_per_s: Number(((batch * batches) / seconds).toFixed(2)),
    steps, guidance, batch, batches, width, height, scheduler: model.defaultScheduler, device, warmup_s: Number(warmup.toFixed(3)),
  };
}
