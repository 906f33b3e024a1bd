/**
 * Feeding onnxruntime sessions whatever their export chose: input names, dtypes (float16 as bits,
 * int32 or int64 ids) and ranks read from the session's metadata, rows batched to a static batch
 * size where an export fixed one, outputs read back as float32.
 */
import * as ort from 'onnxruntime-node';
import { BadInputError } from '../../core/errors';
import { float16ToFloat32, float32ToFloat16 } from './float16';

export type TensorType = ort.Tensor.Type;

export interface InputSpec {
  name: string;
  type: TensorType;
  shape: readonly (number | string)[];
}

export function inputSpecs(session: ort.InferenceSession, where: string): Map<string, InputSpec> {
  const specs = new Map<string, InputSpec>();
  const metadata = session.inputMetadata as readonly ort.InferenceSession.ValueMetadata[] | undefined;
  if (!metadata || metadata.length !== session.inputNames.length) throw new BadInputError(where, 'the ONNX runtime gives no input metadata for this model');
  for (const m of metadata) {
    if (!m.isTensor) throw new BadInputError(where, `input ${m.name} is not a tensor`);
    specs.set(m.name, { name: m.name, type: m.type, shape: m.shape });
  }
  return specs;
}

export function outputName(session: ort.InferenceSession, preferred: string[]): string {
  return preferred.find((n) => session.outputNames.includes(n)) ?? session.outputNames[0]!;
}

export type TypedInput = Float32Array | Uint16Array | Float64Array | BigInt64Array | Int32Array;

/** Values as the typed array an input of `type` takes (float16 as its bits). */
export function typedOf(type: TensorType, values: ArrayLike<number>, where: string): TypedInput {
  switch (type) {
    case 'float32': return values instanceof Float32Array ? values : Float32Array.from(values);
    case 'float16': return float32ToFloat16(values);
    case 'float64': return Float64Array.from(values);
    case 'int64': return BigInt64Array.from(Array.from(values, (v) => BigInt(Math.round(v))));
    case 'int32': return Int32Array.from(Array.from(values, (v) => Math.round(v)));
    default: throw new BadInputError(where, `unsupported input type ${type}`);
  }
}

/**
 * An input tensor. float16 data stays a Uint16Array of bits: where the runtime has a native
 * Float16Array (Node 24+), onnxruntime-common wraps the bits in one, which onnxruntime-node 1.30's
 * binding reads as zero bytes ("not enough space: expected 512, got 0"). The bits are put back as
 * the tensor's CPU data (its `cpuData` field, behind `data`), which the binding reads correctly.
 */
export function inputTensor(type: TensorType, data: TypedInput, dims: readonly number[]): ort.Tensor {
  const tensor = new ort.Tensor(type, data, dims);
  if (type === 'float16' && data instanceof Uint16Array && !(tensor.data instanceof Uint16Array)) {
    (tensor as unknown as { cpuData: Uint16Array }).cpuData = data;
  }
  return tensor;
}

export function tensorOf(type: TensorType, values: ArrayLike<number>, dims: readonly number[], where: string): ort.Tensor {
  return inputTensor(type, typedOf(type, values, where), dims);
}

/** A float output as float32. */
export function floatData(tensor: ort.Tensor, where: string): Float32Array {
  const data = tensor.data as unknown;
  if (tensor.type === 'float32') return data as Float32Array;
  if (tensor.type === 'float16') return data instanceof Uint16Array ? float16ToFloat32(data) : Float32Array.from(data as ArrayLike<number>);
  if (tensor.type === 'float64') return Float32Array.from(data as Float64Array);
  throw new BadInputError(where, `unexpected output type ${tensor.type}`);
}

/** One call; the outputs other than `output` and every feed are released. */
async function run(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, output: string, where: string): Promise<{ data: Float32Array; dims: readonly number[] }> {
  let results: ort.InferenceSession.ReturnType | undefined;
  try {
    results = await session.run(feeds, [output]);
    const out = results[output];
    if (!out) throw new Error(`no output ${output}`);
    const data = floatData(out, where);
    // Own copy: the output's buffer belongs to the runtime's tensor, which is disposed below.
    return { data: out.type === 'float32' ? Float32Array.from(data) : data, dims: out.dims };
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    throw new Error(`${where}: inference failed: ${(err as Error).message}`);
  } finally {
    for (const t of Object.values(feeds)) t.dispose();
    if (results) for (const t of Object.values(results)) t.dispose();
  }
}

/** Rows of a batched input, already in the input's typed form: [rows, ...tail]. */
export interface Rows {
  name: string;
  type: TensorType;
  data: TypedInput;
  tail: readonly number[];
}

/** The batch size an input is fixed to by a static export, if it is. */
export function fixedBatch(spec: InputSpec): number | undefined {
  const d = spec.shape[0];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

/** Rows [start, start + count) as `size` rows (the last one repeated to pad a static batch). */
function takeRows(data: TypedInput, rowSize: number, start: number, count: number, size: number): TypedInput {
  if (start === 0 && count === size && data.length === size * rowSize) return data;
  const out: TypedInput = data instanceof Float32Array ? new Float32Array(size * rowSize)
    : data instanceof Uint16Array ? new Uint16Array(size * rowSize)
      : data instanceof Float64Array ? new Float64Array(size * rowSize)
        : data instanceof Int32Array ? new Int32Array(size * rowSize)
          : new BigInt64Array(size * rowSize);
  for (let r = 0; r < size; r++) {
    const src = start + Math.min(r, count - 1);
    (out as Float32Array).set((data as Float32Array).subarray(src * rowSize, (src + 1) * rowSize), r * rowSize);
  }
  return out;
}

/**
 * Runs `rows` rows through a session in one call, or in chunks of the static batch size of an export with
 * a fixed batch dimension. `extra` makes the inputs that are not per-row (a scalar timestep) for a chunk size.
 */
export async function runRows(
  session: ort.InferenceSession, inputs: readonly Rows[], rows: number, fixed: number | undefined,
  extra: (size: number) => Record<string, ort.Tensor>, output: string, where: string,
): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const chunk = fixed ?? rows;
  const parts: Float32Array[] = [];
  let dims: readonly number[] = [];
  for (let start = 0; start < rows; start += chunk) {
    const count = Math.min(chunk, rows - start);
    const size = fixed ?? count;
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of inputs) {
      const rowSize = input.tail.reduce((a, b) => a * b, 1);
      feeds[input.name] = inputTensor(input.type, takeRows(input.data, rowSize, start, count, size), [size, ...input.tail]);
    }
    Object.assign(feeds, extra(size));
    const res = await run(session, feeds, output, where);
    dims = res.dims;
    parts.push(count === size ? res.data : res.data.slice(0, (res.data.length / size) * count));
  }
  return { data: parts.length === 1 ? parts[0]! : concat(parts), dims: [rows, ...dims.slice(1)] };
}

/** Float arrays end to end. */
export function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
