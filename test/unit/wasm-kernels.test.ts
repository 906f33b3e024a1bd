import { createRequire } from 'node:module';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels, setWasmFilterGradGroupBudget } from '../../engines/classifier/wasm-kernels';

// Every comparison runs the same computation on 'cpu' (the reference: its kernels are plain JS
// loops) and on 'wasm', from identical input data generated here rather than by tf.random*, so
// the two runs cannot diverge before the kernels under test are reached.

type Shape4 = [number, number, number, number];

/** mulberry32: a tiny seeded PRNG, good enough for test data. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomData(size: number, seed: number, offset = 0): Float32Array {
  const next = rng(seed);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = next() * 2 - 1 + offset;
  return out;
}

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Weight shapes are typed as possibly holding null (unknown) dimensions; model weights never do. */
function known(shape: readonly (number | null)[]): number[] {
  return shape.map((d) => {
    if (d === null) throw new Error('unexpected unknown dimension in a weight shape');
    return d;
  });
}

async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  if (!(await tf.setBackend(name))) throw new Error(`could not initialise the ${name} backend`);
}

/** Runs fn on each backend and returns its outputs as plain arrays, disposing every tensor. */
async function onBoth(fn: () => tf.Tensor[]): Promise<{ cpu: Float32Array[]; wasm: Float32Array[] }> {
  const run = async (name: 'cpu' | 'wasm'): Promise<Float32Array[]> => {
    await useBackend(name);
    const before = tf.memory().numTensors;
    const outs = tf.tidy(fn);
    const values = outs.map((t) => t.dataSync() as Float32Array);
    tf.dispose(outs);
    expect(tf.memory().numTensors).toBe(before);
    return values;
  };
  return { cpu: await run('cpu'), wasm: await run('wasm') };
}

/** Largest |a - b| relative to max(1, largest |a|): absolute near zero, relative for big sums. */
function scaledMaxDiff(a: Float32Array, b: Float32Array): number {
  expect(b.length).toBe(a.length);
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!));
  }
  return diff / scale;
}

function expectClose(cpu: Float32Array[], wasm: Float32Array[]): void {
  expect(wasm.length).toBe(cpu.length);
  cpu.forEach((c, i) => expect(scaledMaxDiff(c, wasm[i]!)).toBeLessThan(1e-4));
}

let registered: string[] = [];

beforeAll(async () => {
  registered = registerWasmTrainingKernels();
  if (!(await tf.setBackend('wasm'))) {
    // Normally the Node build finds its .wasm files next to itself; point it there explicitly
    // if a bundler or test runner moved the module.
    const req = createRequire(path.join(process.cwd(), 'package.json'));
    setWasmPaths(path.dirname(req.resolve('@tensorflow/tfjs-backend-wasm')) + path.sep);
    await useBackend('wasm');
  }
}, 60_000);

describe('registerWasmTrainingKernels', () => {
  it('registers the missing filter gradient and the corrected max-pool gradient, once', () => {
    expect(registered).toEqual(['Conv2DBackpropFilter', 'MaxPoolGrad']);
    expect(registerWasmTrainingKernels()).toEqual([]);
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
  });

  it('rejects NCHW and dilated requests with a clear error', async () => {
    await useBackend('wasm');
    const x = tf.zeros([1, 3, 4, 4]);
    const dy = tf.zeros([1, 2, 4, 4]);
    const attrs = { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 3, 2] };
    expect(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs)).toThrow(/only dataFormat 'NHWC'/);
    const dilated = { ...attrs, dataFormat: 'NHWC', dilations: [2, 2] };
    expect(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, dilated)).toThrow(/dilations/);
    tf.dispose([x, dy]);
  });
});

describe('Conv2DBackpropFilter on wasm matches cpu', () => {
  const cases: Array<{ name: string; x: Shape4; filter: Shape4; strides: number; pad: 'same' | 'valid' }> = [
    { name: '3x3 stride 1 same', x: [2, 9, 9, 5], filter: [3, 3, 5, 6], strides: 1, pad: 'same' },
    { name: '3x3 stride 2 same', x: [2, 10, 10, 5], filter: [3, 3, 5, 6], strides: 2, pad: 'same' },
    { name: '1x1 stride 2 valid', x: [2, 10, 10, 5], filter: [1, 1, 5, 7], strides: 2, pad: 'valid' },
    { name: '1x1 stride 2 same, odd size, many channels', x: [2, 9, 9, 20], filter: [1, 1, 20, 7], strides: 2, pad: 'same' },
    { name: '7x7 stride 2 same (ImageNet stem)', x: [2, 16, 16, 3], filter: [7, 7, 3, 4], strides: 2, pad: 'same' },
    { name: '7x7 stride 2 same, odd size', x: [2, 15, 15, 3], filter: [7, 7, 3, 4], strides: 2, pad: 'same' },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const xData = randomData(sizeOf(c.x), 1);
      const wData = randomData(sizeOf(c.filter), 2);
      const { cpu, wasm } = await onBoth(() => {
        const x = tf.tensor4d(xData, c.x);
        const w = tf.tensor4d(wData, c.filter);
        const y = tf.conv2d(x, w, c.strides, c.pad);
        // A non-uniform upstream gradient, so every output position is weighted differently.
        const dy = tf.tensor(randomData(y.size, 3), y.shape);
        const f = (xx: tf.Tensor, ww: tf.Tensor): tf.Tensor =>
          tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.strides, c.pad).mul(dy).sum();
        return tf.grads(f)([x, w]);
      });
      expectClose(cpu, wasm);
    });
  }

  it('explicit padding, and batches split into groups', async () => {
    const xShape: Shape4 = [3, 9, 8, 4];
    const filterShape: Shape4 = [3, 2, 4, 5];
    const pad = [
      [0, 0],
      [2, 0],
      [1, 3],
      [0, 0],
    ];
    const xData = randomData(sizeOf(xShape), 4);
    const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, [2, 1], 1, pad as tf.backend_util.ExplicitPadding);
    const dyData = randomData(sizeOf(info.outShape), 5);
    const attrs = { strides: [2, 1], pad, dataFormat: 'NHWC', filterShape };
    const run = (): tf.Tensor[] => [
      tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor4d(xData, xShape), dy: tf.tensor(dyData, info.outShape) }, attrs) as tf.Tensor,
    ];
    const whole = await onBoth(run);
    expectClose(whole.cpu, whole.wasm);
    // A budget below one image forces one convolution per image.
    const previous = setWasmFilterGradGroupBudget(1);
    try {
      const grouped = await onBoth(run);
      expectClose(whole.cpu, grouped.wasm);
    } finally {
      setWasmFilterGradGroupBudget(previous);
    }
  });

  it('leaves no wasm buffers behind', async () => {
    await useBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const x = tf.tensor4d(randomData(2 * 6 * 6 * 3, 6), [2, 6, 6, 3]);
    const dy = tf.tensor4d(randomData(2 * 3 * 3 * 4, 7), [2, 3, 3, 4]);
    const before = backend.numDataIds();
    const previous = setWasmFilterGradGroupBudget(1);
    try {
      const dW = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
        strides: 2,
        pad: 'same',
        dataFormat: 'NHWC',
        filterShape: [3, 3, 3, 4],
      }) as tf.Tensor;
      expect(backend.numDataIds()).toBe(before + 1);
      dW.dispose();
    } finally {
      setWasmFilterGradGroupBudget(previous);
      tf.dispose([x, dy]);
    }
  });
});

describe('MaxPoolGrad on wasm matches cpu', () => {
  const cases: Array<{ name: string; x: Shape4; size: number; strides: number; pad: 'same' | 'valid'; offset: number; nonNegative?: boolean }> = [
    { name: '3x3 stride 2 same (ImageNet stem), even size', x: [2, 10, 10, 4], size: 3, strides: 2, pad: 'same', offset: 0 },
    { name: '3x3 stride 2 same, odd size', x: [2, 9, 9, 4], size: 3, strides: 2, pad: 'same', offset: 0 },
    { name: '2x2 stride 2 valid', x: [2, 10, 10, 4], size: 2, strides: 2, pad: 'valid', offset: 0 },
    { name: '3x3 stride 1 same', x: [2, 6, 6, 4], size: 3, strides: 1, pad: 'same', offset: 0 },
    // The backend's own kernel sends these windows' gradient to element 0 of the tensor.
    { name: 'all-negative windows', x: [2, 8, 8, 3], size: 3, strides: 2, pad: 'same', offset: -2 },
    // Pooling a ReLU's output: many windows tie at zero, and the first maximum must win, as on cpu.
    { name: 'ties at zero', x: [2, 8, 8, 3], size: 3, strides: 2, pad: 'same', offset: -0.7, nonNegative: true },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const xData = randomData(sizeOf(c.x), 11, c.offset);
      if (c.nonNegative) xData.forEach((v, i) => (xData[i] = Math.max(0, v)));
      const { cpu, wasm } = await onBoth(() => {
        const x = tf.tensor4d(xData, c.x);
        const y = tf.maxPool(x, c.size, c.strides, c.pad);
        const dy = tf.tensor(randomData(y.size, 12), y.shape);
        const f = (xx: tf.Tensor): tf.Tensor =>
          tf.maxPool(xx as tf.Tensor4D, c.size, c.strides, c.pad).mul(dy).sum();
        return [tf.grad(f)(x)];
      });
      expectClose(cpu, wasm);
    });
  }
});

describe('training end to end', () => {
  /** conv(7x7/2) -> batchnorm -> relu -> maxpool(3x3/2) -> conv(3x3) -> add -> mean -> dense. */
  function buildModel(): tf.LayersModel {
    const input = tf.input({ shape: [16, 16, 3] });
    const stem = tf.layers
      .conv2d({ filters: 4, kernelSize: 7, strides: 2, padding: 'same', useBias: false })
      .apply(input) as tf.SymbolicTensor;
    const bn = tf.layers.batchNormalization().apply(stem) as tf.SymbolicTensor;
    const act = tf.layers.reLU().apply(bn) as tf.SymbolicTensor;
    const pooled = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(act) as tf.SymbolicTensor;
    const branch = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(pooled) as tf.SymbolicTensor;
    const sum = tf.layers.add().apply([pooled, branch]) as tf.SymbolicTensor;
    const gap = tf.layers.globalAveragePooling2d({}).apply(sum) as tf.SymbolicTensor;
    const logits = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(gap) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: logits });
  }

  it('three SGD steps give the same weights on cpu and wasm', async () => {
    const batch = 4;
    const xData = randomData(batch * 16 * 16 * 3, 21);
    const labels = [0, 2, 1, 2];

    // Initial weights drawn once, here, and loaded into both models. BatchNorm's moving variance
    // starts at 1 and its scale near 1, as after a real initialisation.
    await useBackend('cpu');
    const probe = buildModel();
    const initial = probe.weights.map((w, i) => {
      const r = randomData(sizeOf(known(w.shape)), 100 + i);
      if (w.name.includes('moving_variance')) return r.fill(1);
      if (w.name.includes('gamma')) return r.map((v) => 1 + 0.1 * v);
      return r.map((v) => 0.5 * v);
    });
    probe.dispose();

    const train = async (name: 'cpu' | 'wasm'): Promise<Float32Array[]> => {
      await useBackend(name);
      const model = buildModel();
      const start = model.weights.map((w, i) => tf.tensor(initial[i]!, known(w.shape)));
      model.setWeights(start);
      tf.dispose(start);
      model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
      const x = tf.tensor4d(xData, [batch, 16, 16, 3]);
      const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 3);
      for (let step = 0; step < 3; step++) await model.trainOnBatch(x, y);
      const out = model.getWeights().map((w) => w.dataSync() as Float32Array);
      tf.dispose([x, y]);
      model.dispose();
      return out;
    };

    const cpu = await train('cpu');
    const wasm = await train('wasm');
    // Training must actually have moved every trainable weight, or the comparison proves little.
    expect(scaledMaxDiff(cpu[0]!, initial[0]!)).toBeGreaterThan(1e-4);
    expectClose(cpu, wasm);
  });
});
