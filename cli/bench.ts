import { join } from 'node:path';
import { hashOf } from '../stages/config/canonical-hash';
import { ArtifactStore } from '../core/store';
import { parseExperimentConfig } from '../stages/config/schema';
import type { ModelSpec } from '../engines/classifier/models';
import { startEmbeddedS3 } from './stack/s3-server';
// The devices a worker would use (DIFFUBIAS_GENERATE_DEVICE, DIFFUBIAS_CAPTION_DEVICE), so a benchmark runs there too.
import { workerSettingsFromEnv } from '../core/settings';

// Loaded on use: tfjs takes a second to load, which the other CLI commands should not pay.
const loadClassifierBench = () => require('../engines/classifier/bench') as typeof import('../engines/classifier/bench');

/** Shapes shared with tools/bench_reference.py, which runs PyTorch on the same ones. */
export const CLASSIFIER_BENCH_SHAPES = {
  mlp: { spec: { arch: 'mlp', numClasses: 10, inputShape: [28, 28, 3], seed: 0 }, trainBatch: 256, trainSteps: 200, inferBatch: 512, inferSteps: 100 },
  resnet18: { spec: { arch: 'resnet18', numClasses: 10, inputShape: [32, 32, 3], seed: 0 }, trainBatch: 64, trainSteps: 3, inferBatch: 256, inferSteps: 3 },
} as const satisfies Record<string, { spec: ModelSpec; trainBatch: number; trainSteps: number; inferBatch: number; inferSteps: number }>;

/**
 * The demo's engines, shared with tools/bench_engines_reference.py, which runs the same ONNX files through
 * diffusers' and transformers' (optimum) onnxruntime pipelines. Generation at the settings experiments use
 * now and used before the defaults changed (issue #23), so one run shows both and their ratio:
 * `generate.paper`: the experiment defaults (the guidance-distilled demo generator, its DDIM, 8 steps, guidance
 * 7.5, micro-batches of 50); `.before`: the demo generator at 25 steps in the 8-image units the paper budget ran
 * as; `generate.demo`: stages/config/demo.ts (distilled, 6 steps, guidance 5); `.before`: the demo generator at
 * 15 steps. Captioning: beam search, 3 captions per image.
 */
export const ENGINE_BENCH = {
  generate: {
    'generate.paper': { bundle: 'models/demo/generator-distilled', steps: 8, guidance: 7.5, batch: 50, batches: 4 },
    'generate.paper.before': { bundle: 'models/demo/generator', steps: 25, guidance: 7.5, batch: 8, batches: 12 },
    'generate.demo': { bundle: 'models/demo/generator-distilled', steps: 6, guidance: 5, batch: 50, batches: 4 },
    'generate.demo.before': { bundle: 'models/demo/generator', steps: 15, guidance: 5, batch: 50, batches: 2 },
  },
  caption: { bundle: 'models/demo/captioner', images: 64, batch: 8, perImage: 3 },
} as const satisfies { generate: Record<string, { bundle: string; steps: number; guidance: number; batch: number; batches: number }>; caption: object };

export type BenchResult = Record<string, number | string>;
export interface Benchmark {
  name: string;
  run(): Promise<BenchResult>;
}

function classifierBenchmarks(): Benchmark[] {
  const entries = [['mlp', 'mlp.cmnist'], ['resnet18', 'resnet18.32px']] as const;
  return entries.flatMap(([arch, suffix]) => {
    const b = CLASSIFIER_BENCH_SHAPES[arch];
    const spec: ModelSpec = { ...b.spec, inputShape: [...b.spec.inputShape] };
    return [
      { name: `train.${suffix}`, run: async () => ({ ...(await loadClassifierBench().trainingThroughput(spec, b.trainBatch, b.trainSteps)) }) },
      { name: `infer.${suffix}`, run: async () => ({ ...(await loadClassifierBench().inferenceThroughput(spec, b.inferBatch, b.inferSteps)) }) },
    ];
  });
}

/** Benchmarks, one JSON line each in `diffubias bench`. Engines add theirs here. */
export const BENCHMARKS: Benchmark[] = [
  {
    name: 'generate.sd.tiny',
    async run() {
      const { generateThroughput } = require('../engines/diffusion/bench') as typeof import('../engines/diffusion/bench');
      return { ...(await generateThroughput(join(__dirname, '..', 'test', 'fixtures', 'tiny-sd'), { device: workerSettingsFromEnv().generate.device })) };
    },
  },
  {
    name: 'caption.tiny',
    async run() {
      const { captionThroughput } = require('../engines/captioner/bench') as typeof import('../engines/captioner/bench');
      return { ...(await captionThroughput(join(__dirname, '..', 'test', 'fixtures', 'tiny-captioner'), { device: workerSettingsFromEnv().captionDevice })) };
    },
  },
  ...Object.entries(ENGINE_BENCH.generate).map(([name, { bundle, ...options }]): Benchmark => ({
    name,
    async run() {
      const { generateThroughput } = require('../engines/diffusion/bench') as typeof import('../engines/diffusion/bench');
      return { bundle, ...(await generateThroughput(join(__dirname, '..', bundle), { ...options, device: workerSettingsFromEnv().generate.device })) };
    },
  })),
  {
    name: 'caption.demo',
    async run() {
      const { captionThroughput } = require('../engines/captioner/bench') as typeof import('../engines/captioner/bench');
      const { bundle, ...options } = ENGINE_BENCH.caption;
      return { ...(await captionThroughput(join(__dirname, '..', bundle), { ...options, strategy: 'beam', device: workerSettingsFromEnv().captionDevice })) };
    },
  },
  ...classifierBenchmarks(),
  {
    name: 'config.hash',
    async run() {
      const config = parseExperimentConfig({ dataset: 'cmnist', ratio: 1 });
      const n = 20_000;
      const start = performance.now();
      for (let i = 0; i < n; i++) hashOf({ ...config, seed: i });
      const seconds = (performance.now() - start) / 1000;
      return { ops_per_s: Math.round(n / seconds) };
    },
  },
  {
    name: 'artifacts.embedded_s3',
    async run() {
      const { mkdtemp, rm } = await import('node:fs/promises');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const dir = await mkdtemp(join(tmpdir(), 'diffubias-bench-'));
      const s3 = await startEmbeddedS3({ directory: dir, bucket: 'bench' });
      const store = new ArtifactStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'bench', prefix: '', credentials: s3.credentials });
      try {
        const body = new Uint8Array(1 << 20).fill(7);
        const n = 20;
        let start = performance.now();
        for (let i = 0; i < n; i++) await store.put(`b/${i}`, body);
        const put = n / ((performance.now() - start) / 1000);
        start = performance.now();
        for (let i = 0; i < n; i++) await store.get(`b/${i}`);
        const get = n / ((performance.now() - start) / 1000);
        return { object_bytes: body.byteLength, put_mib_per_s: Number(put.toFixed(1)), get_mib_per_s: Number(get.toFixed(1)) };
      } finally {
        store.destroy();
        await s3.close();
        await rm(dir, { recursive: true, force: true });
      }
    },
  },
];
