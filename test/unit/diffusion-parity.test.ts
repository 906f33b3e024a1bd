/**
 * Parity of the ONNX text-to-image pipeline with diffusers (torch) on tiny random-weight bundles. The
 * fixtures and references come from tools/make_tiny_sd.py (see its header to regenerate).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { openBundle } from '../../engines/diffusion/bundle';
import { float16ToFloat32, float32ToFloat16 } from '../../engines/onnx/float16';
import { loadText2Image, releaseText2Images, Text2Image } from '../../engines/diffusion/pipeline';
import { createScheduler, type SchedulerKind } from '../../engines/diffusion/schedulers';
import { ClipTokenizer } from '../../engines/diffusion/tokenizer';
import { BadInputError } from '../../core/errors';
import { diffusersReference, FIXTURES, maxAbs, type ReferenceCase } from '../support/diffusion-reference';

const REF = join(FIXTURES, 'tiny-sd-reference');
type Case = ReferenceCase;
const sd = diffusersReference('tiny-sd-reference');
const reference = { cases: sd.cases };
const { bin, model, runCase } = sd;

afterAll(async () => {
  await sd.dispose();
  await releaseText2Images();
});

describe('parity with diffusers (tiny random-weight SD, float32)', () => {
  const errors: Record<string, number> = {};
  afterAll(() => console.log(`max abs error vs diffusers (raw VAE output):\n${Object.entries(errors).map(([k, v]) => `  ${k}: ${v.toExponential(2)}`).join('\n')}`));

  it('covers DDIM, Euler ancestral and LCM, with and without guidance, at batch sizes 1 and 3', () => {
    const grid = new Set(reference.cases.map((c) => `${c.scheduler}/${c.guidance > 1 ? 'cfg' : 'none'}/${c.prompts.length}`));
    for (const s of ['ddim', 'euler_a', 'lcm']) for (const g of ['cfg', 'none']) for (const b of [1, 3]) expect(grid, `${s}/${g}/${b}`).toContain(`${s}/${g}/${b}`);
  });

  for (const c of reference.cases) {
    it(`${c.bundle} ${c.name}`, async () => {
      const { result, raw, pixels } = await runCase(c, c.bundle);
      errors[`${c.bundle} ${c.name}`] = raw;
      expect(result.timesteps).toEqual(c.timesteps);
      expect(raw).toBeLessThan(1e-3);
      expect(pixels).toBeLessThan(1e-3);
    });
  }

  it('float16 bundle (fp16 I/O, float16 scalar timestep and timestep_cond, int32 input_ids) stays close to the float32 reference', async () => {
    for (const c of reference.cases.filter((x) => x.bundle === 'tiny-sd-lcm')) {
      const { raw } = await runCase(c, 'tiny-sd-fp16');
      errors[`tiny-sd-fp16 ${c.name}`] = raw;
      expect(raw).toBeLessThan(2e-2);
    }
  });

  it('tokenizes like transformers (vocab.json + merges.txt, tokenizer.json, pad "!")', async () => {
    for (const name of ['tiny-sd', 'tiny-sd-lcm', 'tiny-sd-fp16']) {
      const bundle = await openBundle(join(FIXTURES, name));
      const tokenizer = await ClipTokenizer.load(bundle.tokenizer, bundle.describe);
      for (const c of reference.cases.filter((x) => x.bundle === name || (name === 'tiny-sd-fp16' && x.bundle === 'tiny-sd-lcm'))) {
        expect(tokenizer.encode(c.prompts).ids).toEqual(c.inputIds);
        expect(tokenizer.encode(c.negativePrompts ?? c.prompts.map(() => '')).ids).toEqual(c.negativeInputIds);
      }
    }
  });
});

describe('seeds', () => {
  for (const scheduler of ['ddim', 'euler_a', 'lcm'] as const) {
    it(`${scheduler}: image i of a batch of 4 equals the same image generated alone`, async () => {
      const m = await model('tiny-sd');
      const prompts = ['a red digit seven', 'green two', 'blue nine', 'a photo of yellow five'];
      const seeds = [40, 41, 42, 43];
      const batch = await m.generate({ prompts, seeds, steps: 3, guidance: 7.5, scheduler });
      const alone = await m.generate({ prompts: [prompts[2]!], seeds: [seeds[2]!], steps: 3, guidance: 7.5, scheduler });
      expect(maxAbs(batch.images[2]!.decoded, alone.images[0]!.decoded)).toBeLessThan(1e-5);
      expect(batch.images[2]!.png!.equals(alone.images[0]!.png!)).toBe(true);
      expect(maxAbs(batch.images[1]!.decoded, batch.images[2]!.decoded)).toBeGreaterThan(1e-2);
    });
  }

  it('writes PNGs of the requested size', async () => {
    const m = await model('tiny-sd');
    const r = await m.generate({ prompts: ['pink zero'], seeds: [1], steps: 2, guidance: 1, height: 48, width: 64 });
    const meta = await sharp(r.images[0]!.png!).metadata();
    expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['png', 64, 48, 3]);
  });
});

describe('prompts', () => {
  it('truncates an over-long prompt with a warning, not an error', async () => {
    const m = await model('tiny-sd');
    const logs: string[] = [];
    const long = Array.from({ length: 30 }, () => 'a red digit seven').join(' ');
    const r = await m.generate({ prompts: ['blue one', long], seeds: [1, 2], steps: 2, guidance: 7.5, log: (l) => logs.push(l) });
    expect(r.truncated).toEqual([1]);
    expect(r.images).toHaveLength(2);
    expect(logs.some((l) => l.startsWith('warning: prompt 1 has') && l.includes('CLIP takes 77'))).toBe(true);
  });

  it('encodes each distinct prompt once and gives every prompt its own row, as encoding them apart does', async () => {
    const m = await model('tiny-sd');
    const long = Array.from({ length: 30 }, () => 'a red digit seven').join(' ');
    const together = await m.encodePrompts(['blue one', long, 'blue one', '', long]);
    expect(together.dims[0]).toBe(5);
    expect(together.truncated).toEqual([1, 4]);
    const size = together.dims[1]! * together.dims[2]!;
    const rowOf = (i: number) => together.embeddings.subarray(i * size, (i + 1) * size);
    for (const [i, prompt] of [[0, 'blue one'], [1, long], [2, 'blue one'], [3, ''], [4, long]] as const) {
      const alone = await m.encodePrompts([prompt]);
      expect(maxAbs(rowOf(i), alone.embeddings), `prompt ${i}`).toBeLessThan(1e-5);
    }
  });
});

describe('bundle files', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  function copy(): string {
    const dir = mkdtempSync(join(tmpdir(), 'tiny-sd-'));
    dirs.push(dir);
    cpSync(join(FIXTURES, 'tiny-sd'), dir, { recursive: true });
    return dir;
  }
  async function failure(dir: string, create = false): Promise<BadInputError> {
    const err = await (create ? Text2Image.create(dir) : openBundle(dir)).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BadInputError);
    return err as BadInputError;
  }

  const broken: [string, (dir: string) => void, string][] = [
    ['a missing unet', (d) => unlinkSync(join(d, 'unet/model.onnx')), 'unet/model.onnx'],
    ['a missing model_index.json', (d) => unlinkSync(join(d, 'model_index.json')), 'model_index.json'],
    ['a malformed scheduler config', (d) => writeFileSync(join(d, 'scheduler/scheduler_config.json'), '{"beta_start": 0.1,'), 'scheduler/scheduler_config.json'],
    ['a missing merges.txt', (d) => unlinkSync(join(d, 'tokenizer/merges.txt')), 'tokenizer/merges.txt'],
    ['a malformed vocab.json', (d) => writeFileSync(join(d, 'tokenizer/vocab.json'), '[1, 2'), 'tokenizer/vocab.json'],
    ['a VAE decoder that is not ONNX', (d) => writeFileSync(join(d, 'vae_decoder/model.onnx'), 'this is not a model, just some text'), 'vae_decoder/model.onnx'],
    ['a VAE config with a bad scaling_factor', (d) => writeFileSync(join(d, 'vae_decoder/config.json'), '{"scaling_factor": "big"}'), 'vae_decoder/config.json'],
  ];
  for (const [what, breakIt, file] of broken) {
    it(`${what} fails naming ${file}`, async () => {
      const dir = copy();
      breakIt(dir);
      const err = await failure(dir);
      expect(err.where).toBe(join(dir, file));
    });
  }

  it('a truncated unet (right header, broken body) fails naming the file when the session loads', async () => {
    const dir = copy();
    const bytes = readFileSync(join(dir, 'unet/model.onnx'));
    writeFileSync(join(dir, 'unet/model.onnx'), bytes.subarray(0, 4000));
    const err = await failure(dir, true);
    expect(err.where).toBe(join(dir, 'unet/model.onnx'));
  });

  it('reads the VAE scaling factor from vae_decoder/config.json, else 0.18215', async () => {
    expect((await openBundle(join(FIXTURES, 'tiny-sd'))).vaeScalingFactor).toBe(0.13025);
    const dir = copy();
    unlinkSync(join(dir, 'vae_decoder/config.json'));
    expect((await openBundle(dir)).vaeScalingFactor).toBe(0.18215);
  });

  it('loadText2Image reuses one instance per bundle', async () => {
    const a = await loadText2Image(join(FIXTURES, 'tiny-sd'), { intraOpThreads: 1 });
    const b = await loadText2Image(join(FIXTURES, 'tiny-sd'), { intraOpThreads: 1 });
    expect(a).toBe(b);
  });
});

interface ScheduleCase {
  kind: SchedulerKind;
  config: Record<string, unknown>;
  steps: number;
  timesteps: number[];
  initNoiseSigma: number;
  start: number[];
  noise: number[][];
  final: number[];
}

describe('schedulers against diffusers (fake model, many configs)', () => {
  const schedules = JSON.parse(readFileSync(join(REF, 'schedules.json'), 'utf8')) as { cases: ScheduleCase[] };
  for (const c of schedules.cases) {
    it(`${c.kind} ${JSON.stringify(c.config)} ${c.steps} steps`, () => {
      const scheduler = createScheduler(c.kind, c.config);
      scheduler.setTimesteps(c.steps);
      expect(scheduler.timesteps).toEqual(c.timesteps);
      expect(Math.abs(scheduler.initNoiseSigma - c.initNoiseSigma) / c.initNoiseSigma).toBeLessThan(1e-6);
      let x: Float32Array = Float32Array.from(c.start, (v) => v * scheduler.initNoiseSigma);
      scheduler.timesteps.forEach((t, s) => {
        const input = scheduler.scaleModelInput(x, s);
        const out = input.map((v) => Math.tanh(v * 0.7 + Math.fround(t) / 500));
        x = scheduler.step(out, s, x, 8, (step, image, size) => Float32Array.from(c.noise[step]!.slice(image * size, (image + 1) * size)));
      });
      const scale = Math.max(1, ...c.final.map(Math.abs));
      expect(maxAbs(x, c.final) / scale).toBeLessThan(1e-4);
    });
  }
});

describe('schedulers and helpers', () => {
  it('resolve scheduler_config.json like diffusers from_config (class defaults, _use_default_values)', () => {
    const raw = { _class_name: 'PNDMScheduler', beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, skip_prk_steps: true, steps_offset: 1 };
    expect(createScheduler('euler_a', raw).config.timestep_spacing).toBe('linspace');
    expect(createScheduler('ddim', raw).config.timestep_spacing).toBe('leading');
    expect(createScheduler('ddim', { ...raw, _use_default_values: ['steps_offset'] }).config.steps_offset).toBe(0);
    const ddim = createScheduler('ddim', raw);
    ddim.setTimesteps(4);
    expect(ddim.timesteps).toEqual([751, 501, 251, 1]);
    expect(() => createScheduler('ddim', { timestep_spacing: 'karras' })).toThrow(BadInputError);
  });

  it('float16 conversion round-trips representable values and rounds to nearest even', () => {
    const values = [0, -0, 1, -2.5, 65504, 6.103515625e-5, 5.960464477539063e-8, 0.1, 1 / 3];
    const back = float16ToFloat32(float32ToFloat16(values));
    expect(Array.from(back.slice(0, 7))).toEqual(values.slice(0, 7));
    expect(back[7]).toBeCloseTo(0.1, 3);
    expect(float16ToFloat32(float32ToFloat16([1e6]))[0]).toBe(Infinity);
    expect(float32ToFloat16([1 + 2 ** -11])[0]).toBe(0x3c00); // tie -> even
  });
});
