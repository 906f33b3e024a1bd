/**
 * Speed against judged quality of the demo generator, per scheduler and step count (issue #23): every
 * setting draws the same images (the 100 (digit, colour) prompts of the first caption template x SEEDS seeds,
 * the same seeds), and each is measured as the analysis stage measures generated images:
 *   digit  = the in-project grayscale MNIST judge (stages/mnist-judge.ts, deterministic) reads the prompted digit
 *            in the bundle's 28x28 content area;
 *   colour = the foreground's nearest Colored MNIST colour (stages/report/colour-check.ts) is the prompted one;
 *   img/s  = generation alone (pixels out, no PNG), MICRO images per call as the generate stage runs it.
 * Fails when the experiments' default (DEFAULT, `distilled@ddim:8`: the guidance-distilled bundle, 8 DDIM steps)
 * is more than 1 point below the reference (REFERENCE, `ddim:25`: the demo generator, 25 DDIM steps, with
 * guidance) on either measure, at either guidance, or when the demo's setting (`distilled@ddim:6`) is, at guidance 5.
 *
 *   npm run test:acceptance -- generator-curve
 *
 * Env: SEEDS (per prompt, default 10), MICRO (images per call, default 50), THREADS (ORT intra-op, default 2),
 * CURVE (comma list of [bundle@]scheduler[+variant]:steps:guidance; bundle = demo or distilled; default below),
 * DEFAULT and REFERENCE ([bundle@]scheduler:steps), JSON (write the rows there).
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { CMNIST_COLORS } from '../../datasets/cmnist/colors';
import { initBackend } from '../../engines/classifier/backend';
import { loadText2Image, releaseText2Images, type Text2Image } from '../../engines/diffusion/pipeline';
import type { SchedulerKind } from '../../engines/diffusion/schedulers';
import { judgeView, trainJudge } from '../../stages/mnist-judge';
import { nearestColour } from '../../stages/report/colour-check';
import templates from '../../data/caption-templates.json';

const DEFAULT_CURVE = [
  'ddim:25:7.5', 'ddim:15:7.5', 'ddim:10:7.5', 'ddim:8:7.5', 'ddim:6:7.5', 'dpmpp_2m:15:7.5', 'dpmpp_2m:8:7.5',
  'distilled@ddim:8:7.5', 'distilled@ddim:6:7.5', 'distilled@ddim:5:7.5', 'distilled@ddim:4:7.5',
  'ddim:25:5', 'ddim:15:5', 'ddim:8:5', 'ddim:6:5', 'dpmpp_2m:8:5',
  'distilled@ddim:8:5', 'distilled@ddim:6:5', 'distilled@ddim:5:5', 'distilled@ddim:4:5',
];
const BUNDLES: Record<string, string> = { demo: 'models/demo/generator', distilled: 'models/demo/generator-distilled' };

/** `kind+variant`: a variant lays these keys over the bundle's scheduler config. */
const VARIANTS: Record<string, Record<string, unknown>> = {
  trailing: { timestep_spacing: 'trailing' },
  linspace: { timestep_spacing: 'linspace' },
  karras: { use_karras_sigmas: true },
};

interface Row {
  scheduler: string;
  steps: number;
  guidance: number;
  images: number;
  imagesPerSecond: number;
  digit: number;
  colour: number;
}

const palette = { rgb: CMNIST_COLORS.map((c) => c.rgb) };

async function measure(t2i: Text2Image, judge: tf.LayersModel, setting: string, steps: number, guidance: number, seeds: number, micro: number): Promise<Row> {
  const scheduler = setting.includes('@') ? setting.slice(setting.indexOf('@') + 1) : setting;
  const [kind, variant] = scheduler.split('+') as [SchedulerKind, string | undefined];
  if (variant !== undefined && !VARIANTS[variant]) throw new Error(`unknown variant ${variant} (${Object.keys(VARIANTS).join(', ')})`);
  const schedulerConfig = variant ? VARIANTS[variant] : {};
  const crop = t2i.bundle.outputCrop ?? { left: 0, top: 0, width: 28, height: 28 };
  const { width } = t2i.defaultSize;
  const jobs: { prompt: string; seed: number; digit: number; colour: number }[] = [];
  templates.digits.forEach((digit, d) => CMNIST_COLORS.forEach((colour, c) => {
    for (let s = 0; s < seeds; s++) jobs.push({ prompt: templates.templates[0]!.replace('{digit}', digit).replace('{color}', colour.name), seed: s, digit: d, colour: c });
  }));
  let seconds = 0;
  let digitOk = 0;
  let colourOk = 0;
  for (let at = 0; at < jobs.length; at += micro) {
    const part = jobs.slice(at, at + micro);
    const t0 = performance.now();
    const result = await t2i.generate({ prompts: part.map((j) => j.prompt), seeds: part.map((j) => j.seed), steps, guidance, scheduler: kind, schedulerConfig, png: false });
    seconds += (performance.now() - t0) / 1000;
    const content = new Float32Array(part.length * crop.width * crop.height * 3);
    result.images.forEach((image, i) => {
      for (let y = 0; y < crop.height; y++) {
        const from = ((crop.top + y) * width + crop.left) * 3;
        content.set(image.pixels.subarray(from, from + crop.width * 3), (i * crop.height + y) * crop.width * 3);
      }
    });
    const per = crop.width * crop.height * 3;
    const read = tf.tidy(() => Array.from((judge.predict(tf.tensor4d(judgeView(content, part.length), [part.length, crop.height, crop.width, 3])) as tf.Tensor).argMax(-1).dataSync()));
    part.forEach((job, i) => {
      if (read[i] === job.digit) digitOk++;
      if (nearestColour(content.subarray(i * per, (i + 1) * per), palette, 1) === job.colour) colourOk++;
    });
  }
  const n = jobs.length;
  return { scheduler: setting, steps, guidance, images: n, imagesPerSecond: n / seconds, digit: (100 * digitOk) / n, colour: (100 * colourOk) / n };
}

describe('generator speed vs judged quality (demo generator)', () => {
  it('the default sampler and steps are within 1 point of DDIM-25 on digit and colour, at guidance 7.5 and 5', async () => {
    const seeds = Number(process.env.SEEDS ?? 10);
    const micro = Number(process.env.MICRO ?? 50);
    const curve = (process.env.CURVE ? process.env.CURVE.split(',') : DEFAULT_CURVE).map((s) => {
      const [scheduler, steps, guidance] = s.split(':');
      return { scheduler: scheduler!, steps: Number(steps), guidance: Number(guidance) };
    });
    const backend = await initBackend();
    const judge = await trainJudge(backend);
    console.log(`judge: in-project grayscale MNIST judge (tfjs ${backend}), MNIST test ${judge.testAccuracy.toFixed(2)}%`);
    const models = new Map<string, Text2Image>();
    const model = async (setting: string) => {
      const name = setting.includes('@') ? setting.slice(0, setting.indexOf('@')) : 'demo';
      if (!BUNDLES[name]) throw new Error(`unknown bundle ${name} (${Object.keys(BUNDLES).join(', ')})`);
      let t2i = models.get(name);
      if (!t2i) {
        t2i = await loadText2Image(resolve(BUNDLES[name]!), { intraOpThreads: Number(process.env.THREADS ?? 2) });
        // One warm-up call: onnxruntime's first calls are slower.
        await t2i.generate({ prompts: Array.from({ length: micro }, () => 'a red handwritten seven'), seeds: Array.from({ length: micro }, (_, i) => i), steps: 4, guidance: 5, png: false });
        models.set(name, t2i);
      }
      return t2i;
    };
    const rows: Row[] = [];
    console.log('| sampler | steps | guidance | img/s | digit % | colour % |\n|---|---|---|---|---|---|');
    for (const c of curve) {
      const row = await measure(await model(c.scheduler), judge.model, c.scheduler, c.steps, c.guidance, seeds, micro);
      rows.push(row);
      console.log(`| ${row.scheduler} | ${row.steps} | ${row.guidance} | ${row.imagesPerSecond.toFixed(1)} | ${row.digit.toFixed(1)} | ${row.colour.toFixed(1)} |`);
    }
    if (process.env.JSON) writeFileSync(process.env.JSON, `${JSON.stringify({ seeds, micro, judgeTestAccuracy: judge.testAccuracy, rows }, null, 1)}\n`);
    await releaseText2Images();
    const find = (setting: string, guidance: number) => {
      const [sampler, steps] = setting.split(':');
      return rows.find((r) => r.scheduler === sampler && r.steps === Number(steps) && r.guidance === guidance);
    };
    const checks: [string, number][] = [[process.env.DEFAULT ?? 'distilled@ddim:8', 7.5], [process.env.DEFAULT ?? 'distilled@ddim:8', 5], ['distilled@ddim:6', 5]];
    for (const [setting, guidance] of checks) {
      const reference = find(process.env.REFERENCE ?? 'ddim:25', guidance);
      const fast = find(setting, guidance);
      if (!reference || !fast) continue;
      expect(fast.digit, `${setting} digit at guidance ${guidance}`).toBeGreaterThanOrEqual(reference.digit - 1);
      expect(fast.colour, `${setting} colour at guidance ${guidance}`).toBeGreaterThanOrEqual(reference.colour - 1);
    }
  }, 60 * 60_000);
});
