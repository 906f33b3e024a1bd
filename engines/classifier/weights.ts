import * as tf from '@tensorflow/tfjs';

/** A tensor's values outside tfjs, for checkpoints and model files. */
export interface NamedArray {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  data: Float32Array | Int32Array;
}

export async function toArrays(tensors: readonly { name: string; tensor: tf.Tensor }[]): Promise<NamedArray[]> {
  return Promise.all(
    tensors.map(async ({ name, tensor }) => {
      const dtype = tensor.dtype === 'int32' ? 'int32' : 'float32';
      const data = dtype === 'int32' ? Int32Array.from(await tensor.data()) : Float32Array.from(await tensor.data());
      return { name, shape: [...tensor.shape], dtype, data };
    }),
  );
}

export function toTensor(a: NamedArray): tf.Tensor {
  return tf.tensor(a.data, a.shape, a.dtype);
}

/** The model's weights (trainable and BatchNorm statistics), in layer order. */
export async function modelWeights(model: tf.LayersModel): Promise<NamedArray[]> {
  // Names come from layer order, not tfjs's variable names: those get unique suffixes per process.
  return toArrays(model.weights.map((w, i) => ({ name: `${i}:${w.originalName}`, tensor: w.read() })));
}

export function setModelWeights(model: tf.LayersModel, weights: readonly NamedArray[], where: string): void {
  if (weights.length !== model.weights.length) {
    throw new Error(`${where}: holds ${weights.length} weight tensors, the model has ${model.weights.length}`);
  }
  const tensors = weights.map((w, i) => {
    const expected = model.weights[i]!.shape;
    if (w.shape.join('x') !== expected.join('x')) {
      throw new Error(`${where}: weight ${w.name} has shape [${w.shape}], the model expects [${expected}]`);
    }
    return toTensor(w);
  });
  model.setWeights(tensors);
  tf.dispose(tensors);
}

/**
 * A self-describing binary container: 4-byte header length, JSON header (meta + tensor specs),
 * then the raw little-endian tensor data. One format for checkpoints and model files.
 */
export function encodeTensors(meta: unknown, groups: Record<string, readonly NamedArray[]>): Uint8Array {
  const specs: Record<string, { name: string; shape: number[]; dtype: string; offset: number; length: number }[]> = {};
  let offset = 0;
  for (const [group, arrays] of Object.entries(groups)) {
    specs[group] = arrays.map((a) => {
      const spec = { name: a.name, shape: a.shape, dtype: a.dtype, offset, length: a.data.length };
      offset += a.data.byteLength;
      return spec;
    });
  }
  const header = Buffer.from(JSON.stringify({ meta, specs }), 'utf8');
  const out = new Uint8Array(4 + header.length + offset);
  new DataView(out.buffer).setUint32(0, header.length, true);
  out.set(header, 4);
  const base = 4 + header.length;
  for (const [group, arrays] of Object.entries(groups)) {
    arrays.forEach((a, i) => out.set(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength), base + specs[group]![i]!.offset));
  }
  return out;
}

export function decodeTensors<M>(bytes: Uint8Array, where: string): { meta: M; groups: Record<string, NamedArray[]> } {
  try {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const headerLength = view.getUint32(0, true);
    const header = JSON.parse(Buffer.from(bytes.subarray(4, 4 + headerLength)).toString('utf8')) as {
      meta: M;
      specs: Record<string, { name: string; shape: number[]; dtype: 'float32' | 'int32'; offset: number; length: number }[]>;
    };
    const base = 4 + headerLength;
    const groups: Record<string, NamedArray[]> = {};
    for (const [group, specs] of Object.entries(header.specs)) {
      groups[group] = specs.map((s) => {
        // Copy out (a Buffer's slice() would share memory): offsets need not be 4-byte aligned.
        const raw = new Uint8Array(bytes.subarray(base + s.offset, base + s.offset + s.length * 4));
        const data = s.dtype === 'int32' ? new Int32Array(raw.buffer) : new Float32Array(raw.buffer);
        if (data.length !== s.length) throw new Error(`tensor ${s.name} is truncated`);
        return { name: s.name, shape: s.shape, dtype: s.dtype, data };
      });
    }
    return { meta: header.meta, groups };
  } catch (err) {
    throw new Error(`${where}: not a readable DiffuBias tensor file (${(err as Error).message})`);
  }
}
