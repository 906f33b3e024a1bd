/**
 * tools/convert_resnet18.py, end to end: random weights in torchvision's ResNet-18 layout, converted,
 * loaded into the project's ResNet-18 (ImageNet stem, symmetric padding), give PyTorch's logits.
 * The fixture comes from `tools/.venv/bin/python tools/check_resnet18_converter.py <dir>`:
 *   RESNET18_CHECK_DIR=<dir> npm run test:acceptance -- resnet18-converter
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveBundle } from '../../core/bundle-store';
import { initBackend } from '../../engines/classifier/backend';
import { applyInitialWeights, INITIAL_WEIGHTS } from '../../engines/classifier/initial-weights';
import { buildModel } from '../../engines/classifier/models';

const dir = process.env.RESNET18_CHECK_DIR;

beforeAll(async () => {
  await initBackend();
});

describe('torchvision ResNet-18 -> tfjs weights', () => {
  it('gives the logits PyTorch computes on the same input', async () => {
    if (!dir) throw new Error('set RESNET18_CHECK_DIR to the folder tools/check_resnet18_converter.py wrote');
    const check = JSON.parse(readFileSync(join(dir, 'check.json'), 'utf8')) as { input: string; shape: [number, number, number, number]; logits: number[] };
    const model = buildModel({ arch: 'resnet18', numClasses: 1000, inputShape: [224, 224, 3], seed: 0, padding: 'symmetric' });
    const copied = await applyInitialWeights(model, await resolveBundle(dir, INITIAL_WEIGHTS), (line) => console.log(line));
    expect(copied).toBe(model.weights.length);
    const bytes = Buffer.from(check.input, 'base64');
    const x = tf.tensor4d(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4), check.shape);
    const logits = Array.from(await (model.predict(x) as tf.Tensor).data());
    const scale = Math.max(...check.logits.map(Math.abs));
    const worst = Math.max(...logits.map((v, i) => Math.abs(v - check.logits[i]!)));
    console.log(`max |tfjs - torch| = ${worst.toExponential(2)} (logits up to ${scale.toFixed(3)})`);
    expect(worst).toBeLessThan(1e-3 * Math.max(1, scale));
    // The same weights without symmetric padding (TensorFlow's 'same') do not match: the padding matters.
    const same = buildModel({ arch: 'resnet18', numClasses: 1000, inputShape: [224, 224, 3], seed: 0 });
    await applyInitialWeights(same, await resolveBundle(dir, INITIAL_WEIGHTS), () => {});
    const shifted = Array.from(await (same.predict(x) as tf.Tensor).data());
    expect(Math.max(...shifted.map((v, i) => Math.abs(v - check.logits[i]!)))).toBeGreaterThan(10 * worst);
  });
});
