import { hostname } from 'node:os';
import { workerSettingsFromEnv } from '../../core/settings';
import { workerIdentity } from '../../workers/product-worker';
import { describe, expect, it } from 'vitest';
import { parseExperimentConfig, parseSweepConfig, type ExperimentConfig } from '../../stages/config/schema';
import { configAsRun } from '../../stages/config/as-run';
import { ConfigError } from '../../core/errors';
import { experimentIdentity, planSweep } from '../../cli/submit';
import { generateUnitImages, UNIT_UNET_ROWS } from '../../stages/unit-sizes';

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('experiment config', () => {
  it('fills the paper defaults', () => {
    const c = parseExperimentConfig({ dataset: 'cmnist', ratio: 1 });
    expect(c).toMatchObject({ seed: 0, biasedLoss: 'gce', vanilla: true, train: { gceQ: 0.7 }, topK: { k: 100, mode: 'global', score: 'ce' }, caption: { perImage: 3 }, filter: { match: 'word' } });
  });

  it("takes Table 6's batch size and lr schedule per dataset unless the config sets them", () => {
    expect(parseExperimentConfig({ dataset: 'bffhq', ratio: 1 }).train).toMatchObject({ batchSize: 64, lrDecay: { every: 20, factor: 0.1 } });
    expect(parseExperimentConfig({ dataset: 'cifar10c', ratio: 1 }).train).toMatchObject({ batchSize: 256, lrDecay: { every: 20, factor: 0.5 } });
    expect(parseExperimentConfig({ dataset: 'cmnist', ratio: 1 }).train.lrDecay).toBeUndefined();
    expect(parseExperimentConfig({ dataset: 'bar', ratio: 1, train: { batchSize: 32 } }).train).toMatchObject({ batchSize: 32, lrDecay: { every: 20, factor: 0.1 } });
    const protocol = parseExperimentConfig({ dataset: 'cmnist', ratio: 1 });
    expect(protocol.selection).toEqual({ classifiers: 'last', biased: 'last', valid: { bias: 'unbiased' } });
    expect([protocol.classifier.init, protocol.generate.images, protocol.filter.enabled, protocol.filter.labelCheck]).toEqual(['torch', 'aligned', true, false]);
  });

  it('names the field of every problem', () => {
    expect(problems(() => parseExperimentConfig({ dataset: 'cmnist', ratio: 150 }))).toEqual([
      'ratio: must be below 100 (percent of bias-conflicting samples, e.g. 1 for 1%)',
    ]);
    expect(problems(() => parseExperimentConfig({ dataset: 'nope', ratio: 1 }))[0]).toMatch(/^dataset: unknown dataset "nope"/);
    expect(problems(() => parseExperimentConfig({ dataset: 'cmnist', ratio: 'one' }))[0]).toMatch(/^ratio: must be a number/);
    expect(problems(() => parseExperimentConfig({ dataset: 'cmnist', ratio: 1, train: { epoch: 3 } }))).toEqual(['train.epoch: unknown key']);
    expect(problems(() => parseExperimentConfig({ dataset: 'cmnist', ratio: 1, topK: { k: -1, mode: 'all' } }))).toEqual([
      expect.stringMatching(/^topK\.k: /),
      expect.stringMatching(/^topK\.mode: /),
    ]);
  });

  it('gives the same id to the same experiment and another to another config', () => {
    const a = experimentIdentity(parseExperimentConfig({ dataset: 'cmnist', ratio: 1, seed: 0 }));
    const b = experimentIdentity(parseExperimentConfig({ seed: 0, ratio: 1, dataset: 'cmnist', topK: { k: 100 } }));
    const c = experimentIdentity(parseExperimentConfig({ dataset: 'cmnist', ratio: 1, seed: 0, topK: { k: 50 } }));
    expect(a.workflowId).toBe(b.workflowId);
    expect(a.workflowId).not.toBe(c.workflowId);
    expect(a.workflowId).toMatch(/^diffubias\/cmnist\/1\/0\/[0-9a-f]{12}$/);
  });
});

describe('generate units', () => {
  it('auto: sized by unet rows (images x steps, doubled with guidance), within bounds; a number is taken as is', () => {
    const generate = parseExperimentConfig({ dataset: 'cmnist', ratio: 1 }).generate;
    expect(generate).toMatchObject({ batchSize: 'auto', scheduler: 'bundle', steps: 8, guidance: 7.5 });
    // 8 steps with guidance: 16 rows an image.
    expect(generateUnitImages(generate)).toBe(Math.round(UNIT_UNET_ROWS / 16));
    expect(generateUnitImages({ ...generate, guidance: 1 })).toBe(Math.round(UNIT_UNET_ROWS / 8));
    expect(generateUnitImages({ ...generate, steps: 1000 })).toBe(15);
    expect(generateUnitImages({ ...generate, steps: 1 })).toBe(5000);
    expect(generateUnitImages({ ...generate, batchSize: 8 })).toBe(8);
    expect(problems(() => parseExperimentConfig({ dataset: 'cmnist', ratio: 1, generate: { batchSize: 'big' } }))[0]).toMatch(/generate\.batchSize/);
    expect(problems(() => parseExperimentConfig({ dataset: 'cmnist', ratio: 1, generate: { scheduler: 'pndm' } }))[0]).toMatch(/generate\.scheduler/);
  });
});

describe('sweep config', () => {
  it('expands datasets x ratios x seeds with one shared config hash', () => {
    const plan = planSweep(parseSweepConfig({ datasets: ['cmnist'], ratios: [0.5, 1], seeds: [0, 1, 2] }));
    expect(plan.cells).toHaveLength(6);
    expect(plan.parallelism).toBe(2);
    expect(new Set(plan.cells.map((c) => c.input.configHash)).size).toBe(1);
    expect(plan.cells.map((c) => c.workflowId)[5]).toMatch(/^diffubias\/cmnist\/1\/2\//);
  });

  it("ratios: paper runs each dataset's own ratios (Colored MNIST 0.5/1/2/5, BAR 1/5), not a cross product", () => {
    const plan = planSweep(parseSweepConfig({ datasets: ['cmnist', 'bar'], seeds: [0] }));
    expect(plan.cells.map((c) => `${c.input.config.dataset} ${c.input.config.ratio}`)).toEqual(['cmnist 0.5', 'cmnist 1', 'cmnist 2', 'cmnist 5', 'bar 1', 'bar 5']);
  });

  it('checks the base config before anything starts', () => {
    expect(problems(() => parseSweepConfig({ datasets: ['cmnist'], ratios: [1], seeds: [0], base: { topK: { k: 0 } } }))[0]).toMatch(/^base\.topK\.k: /);
    expect(problems(() => parseSweepConfig({ datasets: ['cmnist'], ratios: [150], seeds: [0] }))[0]).toMatch(/^ratios\.0: /);
  });
});

describe('worker settings from the environment', () => {
  it('defaults: CPU engines, no GPU power, the local Web UI', () => {
    expect(workerSettingsFromEnv({})).toEqual({
      nativeTf: true, captionDevice: 'cpu', generate: { device: 'cpu', intraOpThreads: undefined, microBatch: undefined },
      readsGpuPower: false, uiUrl: 'http://localhost:8233',
    });
  });

  it('reads each variable once, typed; a GPU device reads GPU power unless told not to', () => {
    const s = workerSettingsFromEnv({
      DIFFUBIAS_GENERATE_DEVICE: 'cuda', DIFFUBIAS_GENERATE_THREADS: '4', DIFFUBIAS_GENERATE_MICROBATCH: '16', DIFFUBIAS_TF_BACKEND: 'wasm',
      DIFFUBIAS_NATIVE_TF: '0', DIFFUBIAS_UI_URL: 'http://ui.example:8080/',
    });
    expect(s).toMatchObject({ generate: { device: 'cuda', intraOpThreads: 4, microBatch: 16 }, tfBackend: 'wasm', nativeTf: false, readsGpuPower: true, uiUrl: 'http://ui.example:8080' });
    expect(workerSettingsFromEnv({ DIFFUBIAS_TF_DEVICE: 'gpu', DIFFUBIAS_GPU_POWER: '0' }).readsGpuPower).toBe(false);
    expect(workerSettingsFromEnv({ DIFFUBIAS_GPU_POWER: '1' }).readsGpuPower).toBe(true);
    expect(workerSettingsFromEnv({ DIFFUBIAS_WORKER_NAME: 'worker-train' }).workerName).toBe('worker-train');
    expect(workerIdentity('worker-train')).toBe(`${process.pid}@${hostname()}/worker-train`);
  });

  it('a bad value is an error naming the variable, not a silent default', () => {
    expect(() => workerSettingsFromEnv({ DIFFUBIAS_GENERATE_DEVICE: 'gpu' })).toThrow(/DIFFUBIAS_GENERATE_DEVICE/);
    expect(() => workerSettingsFromEnv({ DIFFUBIAS_GENERATE_THREADS: '0' })).toThrow(/DIFFUBIAS_GENERATE_THREADS.*positive integer/);
    expect(() => workerSettingsFromEnv({ DIFFUBIAS_CAPTION_DEVICE: 'tpu' })).toThrow(/DIFFUBIAS_CAPTION_DEVICE/);
    expect(() => workerSettingsFromEnv({ DIFFUBIAS_WORKER_NAME: 'a b' })).toThrow(/DIFFUBIAS_WORKER_NAME/);
    expect(() => workerSettingsFromEnv({ DIFFUBIAS_TF_BACKEND: 'webgl' })).toThrow(/DIFFUBIAS_TF_BACKEND/);
  });
});

describe('a recorded config as its run used it', () => {
  it("fills keys added since a run started with that run's values, and leaves today's configs as they are", () => {
    const today = parseExperimentConfig({ dataset: 'cmnist', ratio: 1 });
    expect(configAsRun(today)).toEqual(today);
    const { selection: _s, ...old } = JSON.parse(JSON.stringify(today)) as Record<string, unknown> & { classifier: Record<string, unknown>; caption: Record<string, unknown>; filter: Record<string, unknown>; generate: Record<string, unknown> };
    delete old.classifier.init;
    delete old.caption.batchSize;
    delete old.filter.enabled;
    delete old.generate.repeat;
    const asRun = configAsRun(old as unknown as ExperimentConfig);
    expect(asRun.selection).toEqual({ classifiers: 'valid', biased: 'valid', valid: { bias: 'unbiased' } });
    expect(asRun.classifier.init).toBe('glorot');
    expect(asRun.caption.batchSize).toBe('auto');
    expect(asRun.filter.enabled).toBe(true);
    expect(asRun.generate.repeat).toBe(1);
  });
});
