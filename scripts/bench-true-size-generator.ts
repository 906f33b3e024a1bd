/**
 * The text-to-image engine (engines/diffusion/pipeline.ts, Text2Image) on a true-size random-weight bundle made by
 * tools/make_true_size_sd.py; prints one JSON line. tools/bench_true_size_sd.py runs diffusers' ONNX pipeline on
 * the same files with the same settings, for the ratio.
 *
 *   npx tsx scripts/bench-true-size-generator.ts <folder> [--steps 2] [--images 1] [--size 512] [--guidance 7.5]
 *       [--threads 2] [--warmup-steps 1] [--scheduler <kind>]
 *
 * One warm-up call (one image, --warmup-steps steps, same size and guidance: the sessions' first runs plan their
 * memory) then one timed call of --images images (a batch; classifier-free guidance doubles the unet batch).
 * s_per_step: the unet steps of the timed call, from onStep's timestamps ((last - first) / (steps - 1): each
 * interval is one unet pass and one scheduler step); pre_s: from the call's start to the end of its first step
 * less one step (tokenize, text encoders, initial latents); decode_s: after the last step (VAE decode, pixels;
 * no PNG encoding, as the generate stage calls it). Scheduler: the bundle's when the engine implements it, else
 * DDIM (what the engine falls back to; SD 1.5's PNDM); the Python side uses the same class. peak_rss_gb:
 * process.resourceUsage().maxRSS of this process; rss_after_load_gb: its RSS once the sessions are open.
 */
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Text2Image } from '../engines/diffusion/pipeline';
import type { SchedulerKind } from '../engines/diffusion/schedulers';

function args(): { folder: string; steps: number; images: number; size?: number; guidance: number; threads: number; warmupSteps: number; scheduler?: SchedulerKind } {
  const argv = process.argv.slice(2);
  const folder = argv.find((a, i) => !a.startsWith('--') && (i === 0 || !argv[i - 1]!.startsWith('--')));
  if (!folder) throw new Error('usage: bench-true-size-generator.ts <folder> [--steps N] [--images N] [--size PX] [--guidance G] [--threads N] [--warmup-steps N] [--scheduler KIND]');
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string, fallback: number) => (opt(name) === undefined ? fallback : Number(opt(name)));
  return {
    folder: resolve(folder), steps: num('steps', 2), images: num('images', 1), size: opt('size') === undefined ? undefined : Number(opt('size')),
    guidance: num('guidance', 7.5), threads: num('threads', 2), warmupSteps: num('warmup-steps', 1), scheduler: opt('scheduler') as SchedulerKind | undefined,
  };
}

/** Bytes of each part's model.onnx + model.onnx_data. */
function onnxBytes(folder: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of readdirSync(folder)) {
    const dir = join(folder, part);
    if (!statSync(dir).isDirectory() || !existsSync(join(dir, 'model.onnx'))) continue;
    out[part] = readdirSync(dir).filter((f) => f.startsWith('model.onnx')).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
  }
  return out;
}

const round = (x: number, digits = 3) => Number(x.toFixed(digits));

async function main(): Promise<void> {
  const a = args();
  const info = existsSync(join(a.folder, 'true_size.json')) ? JSON.parse(readFileSync(join(a.folder, 'true_size.json'), 'utf8')) as Record<string, unknown> : {};
  const params = (info.params ?? {}) as Record<string, number>;
  const bytes = onnxBytes(a.folder);

  let t = performance.now();
  const model = await Text2Image.create(a.folder, { intraOpThreads: a.threads });
  const loadS = (performance.now() - t) / 1000;
  const rssAfterLoad = process.memoryUsage().rss / 1024 ** 3;
  const size = a.size ?? model.defaultSize.height;
  const scheduler = a.scheduler ?? model.defaultScheduler;
  const prompts = Array.from({ length: a.images }, (_, i) => `a photo of the digit ${i} in red`);
  const request = (n: number, steps: number, seed: number, onStep?: (s: number) => void) => ({
    prompts: prompts.slice(0, n), seeds: Array.from({ length: n }, (_, i) => seed + i), steps, guidance: a.guidance,
    height: size, width: size, scheduler, png: false as const, onStep,
  });

  t = performance.now();
  await model.generate(request(1, a.warmupSteps, 1000));
  const warmupS = (performance.now() - t) / 1000;

  const marks: number[] = [];
  t = performance.now();
  const result = await model.generate(request(a.images, a.steps, 0, () => marks.push(performance.now())));
  const end = performance.now();
  const totalS = (end - t) / 1000;
  const perStep = marks.length >= 2 ? (marks.at(-1)! - marks[0]!) / 1000 / (marks.length - 1) : (marks[0]! - t) / 1000;
  const pixels = result.images[0]!.pixels;
  let finite = true;
  let sum = 0;
  for (const v of pixels) { if (!Number.isFinite(v)) finite = false; sum += v; }

  console.log(JSON.stringify({
    engine: 'ours (onnxruntime-node)', family: info.family ?? null, variant: info.variant ?? null, scale: info.scale ?? null,
    unet_params: params.unet ?? null, params, onnx_gb: Object.fromEntries(Object.entries(bytes).map(([k, v]) => [k, round(v / 1e9)])),
    onnx_total_gb: round(Object.values(bytes).reduce((s, v) => s + v, 0) / 1e9),
    size, steps: a.steps, images: a.images, guidance: a.guidance, unet_batch: model.usesGuidanceEmbedding || a.guidance <= 1 ? a.images : 2 * a.images,
    scheduler: result.scheduler, timesteps: result.timesteps, threads: a.threads,
    load_s: round(loadS, 2), warmup_s: round(warmupS, 2), warmup_steps: a.warmupSteps,
    s_per_step: round(perStep, 3), pre_s: round((marks[0]! - t) / 1000 - perStep, 3), decode_s: round((end - marks.at(-1)!) / 1000, 3),
    s_per_image: round(totalS / a.images, 3), total_s: round(totalS, 3),
    image_mean: round(sum / pixels.length, 4), image_finite: finite,
    rss_after_load_gb: round(rssAfterLoad, 2), peak_rss_gb: round(process.resourceUsage().maxRSS / 1024 ** 2, 2), onnxruntime: ort.env.versions.common,
  }));
  await model.dispose();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
