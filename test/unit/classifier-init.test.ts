import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../engines/classifier/backend';
import { buildModel, type ModelSpec } from '../../engines/classifier/models';

beforeAll(async () => {
  await initBackend();
});

async function valuesOf(spec: ModelSpec, layer: string, index: number): Promise<Float32Array> {
  const model = buildModel(spec);
  const values = (await model.getLayer(layer).getWeights()[index]!.data()) as Float32Array;
  model.dispose();
  return values;
}

const std = (v: Float32Array) => {
  const mean = v.reduce((a, x) => a + x, 0) / v.length;
  return Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / v.length);
};
const maxAbs = (v: Float32Array) => v.reduce((a, x) => Math.max(a, Math.abs(x)), 0);

describe('classifier initialisation', () => {
  const mlp: ModelSpec = { arch: 'mlp', numClasses: 10, inputShape: [28, 28, 3], seed: 3, init: 'torch' };

  it('torch: nn.Linear draws kernel and bias from U(±1/sqrt(fan_in))', async () => {
    const bound = 1 / Math.sqrt(28 * 28 * 3);
    const kernel = await valuesOf(mlp, 'fc1', 0);
    const bias = await valuesOf(mlp, 'fc1', 1);
    expect(maxAbs(kernel)).toBeLessThanOrEqual(bound);
    expect(maxAbs(kernel)).toBeGreaterThan(0.99 * bound);
    expect(std(kernel)).toBeCloseTo(bound / Math.sqrt(3), 4);
    expect(maxAbs(bias)).toBeLessThanOrEqual(bound);
    expect(maxAbs(bias)).toBeGreaterThan(0.5 * bound);
    expect(maxAbs(await valuesOf(mlp, 'classifier', 0))).toBeLessThanOrEqual(0.1);
  });

  it('glorot: Keras defaults, zero biases, as models trained before the choice', async () => {
    const glorot = { ...mlp, init: 'glorot' as const };
    expect(maxAbs(await valuesOf(glorot, 'fc1', 1))).toBe(0);
    const limit = Math.sqrt(6 / (28 * 28 * 3 + 100));
    expect(maxAbs(await valuesOf(glorot, 'fc1', 0))).toBeGreaterThan(0.99 * limit);
    // Absent = glorot: a model file written before `init` existed rebuilds the same network.
    expect(await valuesOf({ ...mlp, init: undefined }, 'fc2', 0)).toEqual(await valuesOf(glorot, 'fc2', 0));
  });

  it('torch ResNet-18: convolutions from N(0, 2 / fan_out), as torchvision', async () => {
    const resnet: ModelSpec = { arch: 'resnet18', numClasses: 10, inputShape: [32, 32, 3], seed: 1, init: 'torch' };
    const conv = await valuesOf(resnet, 'layer4_0_a_conv', 0);
    expect(std(conv)).toBeCloseTo(Math.sqrt(2 / (512 * 9)), 3);
    // Untruncated, as kaiming_normal_: some draws lie beyond two standard deviations.
    expect(maxAbs(conv)).toBeGreaterThan(2.5 * Math.sqrt(2 / (512 * 9)));
  });

  it('the same seed builds the same network; another seed another', async () => {
    expect(await valuesOf(mlp, 'fc2', 0)).toEqual(await valuesOf(mlp, 'fc2', 0));
    expect(await valuesOf({ ...mlp, seed: 4 }, 'fc2', 0)).not.toEqual(await valuesOf(mlp, 'fc2', 0));
  });
});
