/**
 * The demo captioner's acceptance run: the bundle models/demo/captioner (tools/train_demo_captioner.py)
 * captions 1,000 Colored MNIST TEST images with the project's captioner and the caption engine's
 * defaults (beam search, 3 captions per image); the FIRST caption must name the right digit word and
 * the right color name in >= 99% of the images, and all three captions both in >= 99%: the stand-in
 * for LLaVA must not put wrong labels into the generated set.
 *
 *   npm run test:acceptance -- captioner
 *
 * Images: a seeded random 1,000 of `.diffubias/datasets/cmnist/test/` (`<idx>_<label>_<bias>.png`,
 * bias = color index) when that folder exists (DATASET_ROOT overrides `.diffubias/datasets`), else
 * built on the fly from the MNIST test IDX files with uniformly random colors and the builder's
 * color noise. Env: CAPTIONER (bundle, default models/demo/captioner), N (default 1000), SEED (default 0).
 * Fails when a target is missed.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { CMNIST_COLORS } from '../../datasets/cmnist/colors';
import { loadMnist } from '../../datasets/cmnist/idx';
import { COLOR_NOISE_SIGMA } from '../../datasets/cmnist/plan';
import { clearCaptioners, loadCaptioner, type CaptionImage } from '../../engines/captioner/captioner';
import { Rng } from '../../core/random';
import templates from '../../data/caption-templates.json';

interface Sample { image: CaptionImage; label: number; color: number }

const DIGITS: string[] = templates.digits;
const COLORS = CMNIST_COLORS.map((c) => c.name);

function listPngs(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listPngs(path));
    else if (entry.name.endsWith('.png')) out.push(path);
  }
  return out;
}

function fromFolder(dir: string, n: number, rng: Rng): Sample[] {
  const files = listPngs(dir).sort();
  const picked = rng.shuffle(files).slice(0, n);
  return picked.map((path) => {
    const m = /(\d+)_(\d)_(\d)\.png$/.exec(path);
    if (!m) throw new Error(`unexpected test file name ${path}`);
    return { image: { bytes: readFileSync(path), name: path }, label: Number(m[2]), color: Number(m[3]) };
  });
}

async function fromIdx(n: number, rng: Rng): Promise<Sample[]> {
  const mnist = loadMnist('test');
  const size = mnist.rows * mnist.cols;
  const picked = rng.permutation(mnist.count).slice(0, n);
  const samples: Sample[] = [];
  for (const source of picked) {
    const color = rng.int(COLORS.length);
    const rgb = CMNIST_COLORS[color]!.rgb.map((c) => Math.min(255, Math.max(0, Math.round(c + 255 * COLOR_NOISE_SIGMA * rng.normal()))));
    const gray = mnist.pixels.subarray(source * size, (source + 1) * size);
    const raw = Buffer.alloc(size * 3);
    for (let p = 0; p < size; p++) {
      const v = gray[p]! / 255;
      for (let ch = 0; ch < 3; ch++) raw[3 * p + ch] = Math.round(v * rgb[ch]!);
    }
    const bytes = await sharp(raw, { raw: { width: mnist.cols, height: mnist.rows, channels: 3 } }).png().toBuffer();
    samples.push({ image: { bytes, name: `mnist-test-${source}` }, label: mnist.labels[source]!, color });
  }
  return samples;
}

/** The indices of the names that occur as whole words in a caption. */
function named(caption: string, names: readonly string[]): number[] {
  const words = new Set(caption.toLowerCase().split(/[^a-z]+/).filter(Boolean));
  return names.flatMap((name, i) => (words.has(name) ? [i] : []));
}

function confusion(title: string, names: readonly string[], truth: number[], said: number[][]): void {
  // Rows: true class; columns: the single class named (or '-' for none / several).
  const width = Math.max(...names.map((n) => n.length), 6);
  console.log(`\n${title} (rows: truth, columns: what the first caption names; ? = none or several)`);
  console.log(`${''.padEnd(width)} ${names.map((n) => n.slice(0, 5).padStart(5)).join(' ')}     ?`);
  for (let t = 0; t < names.length; t++) {
    const row = new Array(names.length + 1).fill(0) as number[];
    truth.forEach((y, i) => {
      if (y !== t) return;
      const s = said[i]!;
      row[s.length === 1 ? s[0]! : names.length]!++;
    });
    console.log(`${names[t]!.padEnd(width)} ${row.map((v) => String(v).padStart(5)).join(' ')}`);
  }
}

async function measure(): Promise<{ digitAcc: number; colorAcc: number; allAcc: number }> {
  const bundle = process.env.CAPTIONER ?? 'models/demo/captioner';
  const n = Number(process.env.N ?? 1000);
  const seed = Number(process.env.SEED ?? 0);
  const rng = new Rng(seed);
  const folder = join(process.env.DATASET_ROOT ?? join('.diffubias', 'datasets'), 'cmnist', 'test');
  const source = existsSync(folder) ? `${folder} (seeded random ${n})` : `MNIST test IDX, uniformly random colors, seed ${seed}`;
  const samples = existsSync(folder) ? fromFolder(folder, n, rng) : await fromIdx(n, rng);
  console.log(`captioner ${bundle} on ${samples.length} Colored MNIST test images from ${source}`);

  const captioner = await loadCaptioner(bundle, { log: (m) => console.log(m) });
  const started = performance.now();
  // The caption engine's defaults: beam search, 3 captions per image, the bundle's generation config.
  const results = await captioner.caption(samples.map((s) => s.image), { strategy: 'beam', perImage: 3 });
  const seconds = (performance.now() - started) / 1000;

  const first = results.map((r) => r.captions[0] ?? '');
  const digitSaid = first.map((c) => named(c, DIGITS));
  const colorSaid = first.map((c) => named(c, COLORS));
  const digitOk = samples.filter((s, i) => digitSaid[i]!.length === 1 && digitSaid[i]![0] === s.label).length;
  const colorOk = samples.filter((s, i) => colorSaid[i]!.length === 1 && colorSaid[i]![0] === s.color).length;
  const allOk = samples.filter((s, i) => results[i]!.captions.every((c) => named(c, DIGITS).includes(s.label) && named(c, COLORS).includes(s.color))).length;
  const digitAcc = digitOk / samples.length;
  const colorAcc = colorOk / samples.length;

  console.log('\nexamples (truth -> 3 beam captions):');
  for (let i = 0; i < 6; i++) {
    const s = samples[i]!;
    console.log(`  ${DIGITS[s.label]}/${COLORS[s.color]} -> ${results[i]!.captions.map((c) => JSON.stringify(c)).join(', ')}`);
  }
  confusion('digit confusion', DIGITS, samples.map((s) => s.label), digitSaid);
  confusion('color confusion', COLORS, samples.map((s) => s.color), colorSaid);
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  console.log(`\nfirst caption names the correct digit word: ${pct(digitAcc)} (${digitOk}/${samples.length}, target >= 99%)`);
  console.log(`first caption names the correct color name: ${pct(colorAcc)} (${colorOk}/${samples.length}, target >= 99%)`);
  console.log(`all 3 captions name both correctly: ${pct(allOk / samples.length)} (target >= 99%)`);
  console.log(`throughput: ${(samples.length / seconds).toFixed(1)} images/s (${seconds.toFixed(1)} s, beam 3, 3 captions, CPU, batches of 8)`);
  await clearCaptioners();
  return { digitAcc, colorAcc, allAcc: allOk / samples.length };
}

describe('captioner acceptance: the demo captioner on Colored MNIST test images', () => {
  it('the first caption names the right digit word and color name, and all three captions both, in >= 99% of the images', async () => {
    const { digitAcc, colorAcc, allAcc } = await measure();
    expect(digitAcc).toBeGreaterThanOrEqual(0.99);
    expect(colorAcc).toBeGreaterThanOrEqual(0.99);
    expect(allAcc).toBeGreaterThanOrEqual(0.99);
  }, 30 * 60_000);
});
