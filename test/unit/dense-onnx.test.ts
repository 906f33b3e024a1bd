import { describe, expect, it } from 'vitest';
import { DenseStackSession, denseStackOnnx, type DenseLayerValues } from '../../engines/classifier/dense-onnx';

function layer(inputs: number, outputs: number, relu: boolean, seed: number): DenseLayerValues {
  return {
    inputs, outputs, relu,
    kernel: Float32Array.from({ length: inputs * outputs }, (_, i) => Math.sin(i * 0.7 + seed) * 0.3),
    bias: Float32Array.from({ length: outputs }, (_, i) => Math.cos(i + seed) * 0.1),
  };
}

/** The same stack in float64 JavaScript, kernel [inputs, outputs] row-major as tfjs stores it. */
function reference(layers: readonly DenseLayerValues[], x: Float32Array, rows: number): Float64Array {
  let h = Float64Array.from(x.subarray(0, rows * layers[0]!.inputs));
  for (const l of layers) {
    const out = new Float64Array(rows * l.outputs);
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < l.outputs; o++) {
        let sum = l.bias[o]!;
        for (let i = 0; i < l.inputs; i++) sum += h[r * l.inputs + i]! * l.kernel[i * l.outputs + o]!;
        out[r * l.outputs + o] = l.relu && sum < 0 ? 0 : sum;
      }
    }
    h = out;
  }
  return h;
}

describe('dense stacks on onnxruntime', () => {
  const layers = [layer(12, 9, true, 1), layer(9, 7, true, 2), layer(7, 4, false, 3)];
  const x = Float32Array.from({ length: 6 * 12 }, (_, i) => ((i * 37) % 11) / 11 - 0.4);

  it('gives the logits of the float64 reference to 1e-5, for the first `size` rows of a batch', async () => {
    const session = await DenseStackSession.create(layers);
    try {
      for (const rows of [6, 5, 1]) {
        const got = await session.logits(x, rows);
        const want = reference(layers, x, rows);
        expect(got.length).toBe(rows * 4);
        const diff = Math.max(...Array.from(got, (v, i) => Math.abs(v - want[i]!)));
        expect(diff).toBeLessThan(1e-5);
      }
      // The hidden ReLUs are applied (some pre-activations are negative here), and the logits' is not.
      expect(Math.min(...(await session.logits(x, 6)))).toBeLessThan(0);
    } finally {
      await session.dispose();
    }
  });

  it('refuses a stack whose shapes do not chain, or whose last layer has a ReLU', () => {
    expect(() => denseStackOnnx([layer(12, 9, true, 1), layer(8, 4, false, 2)])).toThrow(/layer 1 takes 8 inputs, layer 0 gives 9/);
    expect(() => denseStackOnnx([{ ...layer(3, 2, false, 1), bias: new Float32Array(3) }])).toThrow(/layer 0: kernel or bias does not match 3x2/);
    expect(() => denseStackOnnx([layer(3, 2, true, 1)])).toThrow(/last dense layer must be linear/);
    expect(() => denseStackOnnx([])).toThrow(/at least one layer/);
  });
});
