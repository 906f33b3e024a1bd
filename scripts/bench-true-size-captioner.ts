/**
 * The product's captioner (engines/captioner: loadCaptioner, then caption with beam search) on a
 * true-size random-weight bundle from tools/make_true_size_vlm.py; tools/bench_true_size_vlm.py
 * does the same with Python transformers on the same weights and pictures. Prints one JSON line:
 * family, parameters (true_size.json: PyTorch's unique parameters), seconds per image (3 beams, 3 captions,
 * max_new_tokens 20; the first image is a warm-up and not counted), CPU seconds per image (user +
 * system, all threads: less sensitive than wall time to a busy machine), peak RSS
 * (process.resourceUsage().maxRSS) and the ONNX file sizes.
 *
 *   OMP_NUM_THREADS=2 npx tsx scripts/bench-true-size-captioner.ts .diffubias/true-size/smolvlm-256m [--images 4]
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { loadCaptioner } from '../engines/captioner/captioner';

const NUM_BEAMS = 3;
const MAX_NEW_TOKENS = 20;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const folder = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--images');
  const at = args.indexOf('--images');
  const count = at >= 0 ? Number(args[at + 1]) : 4;
  if (!folder || !Number.isInteger(count) || count < 2) throw new Error('usage: bench-true-size-captioner.ts <folder> [--images N (>= 2)]');
  const dir = resolve(folder);
  const meta = JSON.parse(readFileSync(join(dir, 'true_size.json'), 'utf8')) as { family: string; images: string[]; params: { total: number } };
  const files = meta.images.slice(0, count);
  if (files.length < count) throw new Error(`${dir} has ${files.length} images, ${count} asked`);

  const started = performance.now();
  const captioner = await loadCaptioner(dir);
  const loadS = (performance.now() - started) / 1000;
  const prompt = captioner.modelType === 'florence2' ? '<CAPTION>' : 'Describe the image.';
  const perImage: number[] = [];
  const cpuPerImage: number[] = [];
  let first: { tokens: number[][]; captions: string[] } | undefined;
  for (const file of files) {
    const image = { bytes: readFileSync(join(dir, file)), name: join(dir, file) };
    const t = performance.now();
    const c = process.cpuUsage();
    const [result] = await captioner.caption([image], { strategy: 'beam', perImage: NUM_BEAMS, numBeams: NUM_BEAMS, maxNewTokens: MAX_NEW_TOKENS, prompt });
    perImage.push((performance.now() - t) / 1000);
    const used = process.cpuUsage(c);
    cpuPerImage.push((used.user + used.system) / 1e6);
    first ??= { tokens: result!.tokens, captions: result!.captions };
  }
  const timed = perImage.slice(1);
  const onnxDir = join(dir, 'onnx');
  const onnxFiles = Object.fromEntries(readdirSync(onnxDir).sort().map((f) => [f, statSync(join(onnxDir, f)).size]));
  console.log(JSON.stringify({
    runner: 'ours (transformers.js 4.3.2 + onnxruntime-node, CPU fp32)',
    family: meta.family,
    model_type: captioner.modelType,
    params: meta.params.total,
    images: files.length,
    timed_images: timed.length,
    s_per_image: Number((timed.reduce((a, b) => a + b, 0) / timed.length).toFixed(2)),
    per_image_s: perImage.map((s) => Number(s.toFixed(2))),
    cpu_s_per_image: Number((cpuPerImage.slice(1).reduce((a, b) => a + b, 0) / timed.length).toFixed(2)),
    load_s: Number(loadS.toFixed(1)),
    loadavg: loadavg()[0],
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    onnx_bytes: Object.values(onnxFiles).reduce((a, b) => a + b, 0),
    onnx_files: onnxFiles,
    first_image: first,
  }));
  await captioner.dispose();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack ?? err.message : err);
  process.exitCode = 1;
});
