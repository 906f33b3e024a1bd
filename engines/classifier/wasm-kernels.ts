/**
 * Training kernels for the tfjs wasm backend.
 *
 * @tensorflow/tfjs-backend-wasm 4.22 can run the forward pass of a ResNet but not its backward
 * pass: `Conv2DBackpropFilter` (the weight gradient of every conv layer) has no wasm kernel, so
 * `optimizer.minimize` throws "Kernel 'Conv2DBackpropFilter' not registered". Its `MaxPoolGrad`
 * kernel exists but is wrong whenever a pooling window holds no positive value: the C++ seeds
 * the running max with `std::numeric_limits<float>::min()` (the smallest *positive* float)
 * instead of `lowest()`, so those windows route their gradient to element 0 of the tensor, and
 * ties go to the last rather than the first maximum. The other ops a ResNet trains through
 * (Conv2DBackpropInput, AvgPoolGrad, Relu, Add, Mean, BatchMatMul, the batch-norm ops) already
 * exist on wasm and agree with the cpu backend.
 */
import {
  backend_util,
  Conv2DBackpropFilter,
  getKernel,
  MaxPoolGrad,
  registerKernel,
  unregisterKernel,
} from '@tensorflow/tfjs';
// Loaded for its side effect: the package registers its kernels on import, and a registration
// that came after ours would silently overwrite the MaxPoolGrad replacement below.
import '@tensorflow/tfjs-backend-wasm';
import type {
  Conv2DBackpropFilterAttrs,
  DataId,
  DataType,
  KernelConfig,
  KernelFunc,
  MaxPoolGradAttrs,
  NamedAttrMap,
  TensorInfo,
  TypedArray,
} from '@tensorflow/tfjs';

const BACKEND = 'wasm';

/**
 * The part of `BackendWasm` these kernels use, checked at run time so that a kernel reached
 * through some other backend fails with a readable message rather than a TypeError deep inside.
 */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): TypedArray;
  disposeData(dataId: DataId, force?: boolean): boolean;
}

function asWasmBackend(backend: unknown, kernel: string): WasmBackendLike {
  const b = backend as Partial<WasmBackendLike> | null;
  if (
    b == null ||
    typeof b.makeOutput !== 'function' ||
    typeof b.typedArrayFromHeap !== 'function' ||
    typeof b.disposeData !== 'function'
  ) {
    throw new Error(`${kernel} (wasm training kernel): the backend is not tfjs-backend-wasm`);
  }
  return b as WasmBackendLike;
}

function requireFloat32(info: TensorInfo, kernel: string): void {
  if (info.dtype !== 'float32') {
    throw new Error(`${kernel} (wasm training kernel): only float32 is supported, got ${info.dtype}`);
  }
}

function f32View(backend: WasmBackendLike, info: TensorInfo, kernel: string): Float32Array {
  requireFloat32(info, kernel);
  return backend.typedArrayFromHeap(info) as Float32Array;
}

function requireInput(info: TensorInfo | undefined, name: string, kernel: string): TensorInfo {
  if (info === undefined) throw new Error(`${kernel} (wasm training kernel): missing input '${name}'`);
  return info;
}

function as4D(shape: number[], name: string, kernel: string): [number, number, number, number] {
  if (shape.length !== 4) {
    throw new Error(`${kernel} (wasm training kernel): '${name}' must be rank 4, got [${shape.join(',')}]`);
  }
  return shape as [number, number, number, number];
}

function rejectDilations(attrs: NamedAttrMap, kernel: string): void {
  // tfjs-core never passes dilations to these kernels today (its conv2d gradient refuses rates
  // above 1); checking anyway turns a future attribute into an error instead of a wrong answer.
  const d = attrs['dilations'];
  if (d === undefined) return;
  const rates = Array.isArray(d) ? d : [d];
  if (rates.some((r) => r !== 1)) {
    throw new Error(`${kernel} (wasm training kernel): dilations other than 1 are not supported (got ${JSON.stringify(d)})`);
  }
}

/**
 * Upper bound, in floats, on the slice of x (and of dy) handled per convolution call. The filter
 * gradient is a sum over the batch, so large batches are split into groups: the wasm Conv2D keeps
 * three dy-sized copies of its "filter" alive at once (ours, its transposed copy, XNNPACK's packed
 * weights), and for an ImageNet stem at batch 64 dy alone is ~200 MB.
 */
let groupBudgetFloats = 1 << 22;

/**
 * Changes the per-call budget (in floats) that splits Conv2DBackpropFilter's batch into groups,
 * returning the previous value. Smaller budgets cap the kernel's transient wasm memory at the cost
 * of more, smaller convolutions; tests use it to exercise the grouping.
 */
export function setWasmFilterGradGroupBudget(floats: number): number {
  if (!Number.isInteger(floats) || floats < 1) {
    throw new Error(`setWasmFilterGradGroupBudget: expected a positive integer, got ${floats}`);
  }
  const previous = groupBudgetFloats;
  groupBudgetFloats = floats;
  return previous;
}

function wasmKernel(name: string, kernel: string): KernelFunc {
  const config = getKernel(name, BACKEND) as KernelConfig | undefined;
  if (config === undefined) {
    throw new Error(`${kernel} (wasm training kernel): the wasm '${name}' kernel is not registered`);
  }
  return config.kernelFunc;
}

/**
 * Filter gradient as one more convolution, so all the arithmetic runs in XNNPACK:
 *
 *   dW[fy,fx,ci,co] = sum over n,oy,ox of x[n, oy*s+fy-pad, ox*s+fx-pad, ci] * dy[n,oy,ox,co]
 *
 * is a stride-1 convolution, dilated by the forward stride, of x viewed as [ci, H, W, n] (batch
 * and channels swapped) with dy viewed as a [oh, ow, n, co] filter; the result comes out as
 * [ci, fh, fw, co]. Building an im2col matrix in JS instead was measured 2x slower: the copy is
 * memory-bound, and the wasm BatchMatMul only uses XNNPACK for untransposed operands, which forces
 * either a JS transpose of the im2col block or packing a very wide right-hand operand.
 */
const conv2DBackpropFilterWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const kernel = Conv2DBackpropFilter;
  const b = asWasmBackend(backend, kernel);
  const x = requireInput(inputs['x'], 'x', kernel);
  const dy = requireInput(inputs['dy'], 'dy', kernel);
  const rawAttrs: NamedAttrMap = attrs ?? {};
  const a = rawAttrs as unknown as Conv2DBackpropFilterAttrs;
  if (a.dataFormat !== undefined && a.dataFormat !== 'NHWC') {
    throw new Error(`${kernel} (wasm training kernel): only dataFormat 'NHWC' is supported, got '${a.dataFormat}'`);
  }
  rejectDilations(rawAttrs, kernel);
  requireFloat32(x, kernel);
  requireFloat32(dy, kernel);

  const info = backend_util.computeConv2DInfo(
    as4D(x.shape, 'x', kernel),
    a.filterShape,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
    false,
    'channelsLast',
  );
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: cin, outHeight: oh, outWidth: ow } = info;
  const { outChannels: cout, filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const [dyN, dyH, dyW, dyC] = as4D(dy.shape, 'dy', kernel);
  if (dyN !== n || dyH !== oh || dyW !== ow || dyC !== cout) {
    throw new Error(
      `${kernel} (wasm training kernel): dy has shape [${dy.shape.join(',')}], expected [${[n, oh, ow, cout].join(',')}]`,
    );
  }

  const out = b.makeOutput([fh, fw, cin, cout], 'float32');
  const size = fh * fw * cin * cout;
  // Rows and columns past the last tap of the last output are never read by the forward conv;
  // cropping them (instead of letting the correlation run past fh x fw taps and slicing
  // afterwards) avoids computing outputs that would be thrown away.
  const hSpan = (oh - 1) * sh + fh - padTop;
  const wSpan = (ow - 1) * sw + fw - padLeft;
  if (n === 0 || oh === 0 || ow === 0 || Math.min(h, hSpan) <= 0 || Math.min(w, wSpan) <= 0 || size === 0) {
    // Every tap lands in the padding (or nothing is there at all): the gradient is zero.
    f32View(b, out, kernel).fill(0);
    return out;
  }
  // A strided 1x1 conv (a ResNet downsampling shortcut) reads only every sh-th row and sw-th
  // column of x; copying just those beforehand turns it into an undilated 1x1 problem a quarter
  // the size, instead of transposing all of x and convolving with holes.
  const subsample = fh === 1 && fw === 1 && (sh > 1 || sw > 1) && padTop === 0 && padLeft === 0 && hSpan <= h && wSpan <= w;
  const rowStep = subsample ? sh : 1;
  const colStep = subsample ? sw : 1;
  const hUsed = subsample ? oh : Math.min(h, hSpan);
  const wUsed = subsample ? ow : Math.min(w, wSpan);
  const dilations = subsample ? [1, 1] : [sh, sw];
  const pad = subsample
    ? [
        [0, 0],
        [0, 0],
        [0, 0],
        [0, 0],
      ]
    : [
        [0, 0],
        [padTop, hSpan - hUsed],
        [padLeft, wSpan - wUsed],
        [0, 0],
      ];
  const copyX = subsample || hUsed !== h || wUsed !== w;

  const conv = wasmKernel('Conv2D', kernel);
  const transpose = wasmKernel('Transpose', kernel);
  const perImage = Math.max(hUsed * wUsed * cin, oh * ow * cout);
  const groupSize = Math.max(1, Math.min(n, Math.floor(groupBudgetFloats / perImage)));
  // Accumulated as [ci, fh, fw, co], the layout the convolution produces.
  const acc = new Float64Array(size);

  for (let n0 = 0; n0 < n; n0 += groupSize) {
    const g = Math.min(groupSize, n - n0);
    const owned: TensorInfo[] = [];
    const keep = (t: TensorInfo): TensorInfo => {
      owned.push(t);
      return t;
    };
    try {
      const xg = g === n && !copyX ? x : keep(copyWindow(b, x, n0, g, hUsed, wUsed, rowStep, colStep, kernel));
      const dyg = g === n ? dy : keep(copyWindow(b, dy, n0, g, oh, ow, 1, 1, kernel));
      const xT = keep(transpose({ inputs: { x: xg }, backend, attrs: { perm: [3, 1, 2, 0] } }) as TensorInfo);
      const dyT = keep(transpose({ inputs: { x: dyg }, backend, attrs: { perm: [1, 2, 0, 3] } }) as TensorInfo);
      // dyT is a fresh tensor on every call, never reused: the wasm Conv2D caches its XNNPACK
      // operator (with the packed filter) by filter tensor id until that tensor is disposed.
      const res = keep(
        conv({
          inputs: { x: xT, filter: dyT },
          backend,
          attrs: { strides: 1, pad, dataFormat: 'NHWC', dilations },
        }) as TensorInfo,
      );
      const [rc, rh, rw, ro] = as4D(res.shape, 'conv result', kernel);
      if (rc !== cin || rh !== fh || rw !== fw || ro !== cout) {
        throw new Error(`${kernel} (wasm training kernel): internal shape mismatch [${res.shape.join(',')}]`);
      }
      const r = f32View(b, res, kernel);
      for (let i = 0; i < size; i++) acc[i]! += r[i]!;
    } finally {
      for (const t of owned) b.disposeData(t.dataId);
    }
  }

  const dW = f32View(b, out, kernel);
  for (let ci = 0; ci < cin; ci++) {
    for (let f = 0; f < fh * fw; f++) {
      const src = (ci * fh * fw + f) * cout;
      const dst = (f * cin + ci) * cout;
      for (let co = 0; co < cout; co++) dW[dst + co] = acc[src + co]!;
    }
  }
  return out;
};

/**
 * Copies images [n0, n0+g) of an NHWC tensor, keeping rows 0, rowStep, ... and columns 0,
 * colStep, ... of each, `rows` x `cols` of them.
 */
function copyWindow(
  b: WasmBackendLike,
  t: TensorInfo,
  n0: number,
  g: number,
  rows: number,
  cols: number,
  rowStep: number,
  colStep: number,
  kernel: string,
): TensorInfo {
  const [, h, w, c] = as4D(t.shape, 'tensor', kernel);
  const dst = b.makeOutput([g, rows, cols, c], 'float32');
  // Views are taken only after makeOutput: growing wasm memory detaches earlier views.
  const dstView = f32View(b, dst, kernel);
  const heap = new Float32Array(dstView.buffer);
  const srcOff = f32View(b, t, kernel).byteOffset >> 2;
  let d = dstView.byteOffset >> 2;
  if (rows === h && cols === w && rowStep === 1 && colStep === 1) {
    heap.copyWithin(d, srcOff + n0 * h * w * c, srcOff + (n0 + g) * h * w * c);
    return dst;
  }
  for (let i = n0; i < n0 + g; i++) {
    for (let y = 0; y < rows; y++) {
      const rowBase = srcOff + (i * h + y * rowStep) * w * c;
      if (colStep === 1) {
        heap.copyWithin(d, rowBase, rowBase + cols * c);
        d += cols * c;
        continue;
      }
      for (let x = 0; x < cols; x++, d += c) {
        const s = rowBase + x * colStep * c;
        if (c >= 16) {
          heap.copyWithin(d, s, s + c);
        } else {
          for (let k = 0; k < c; k++) heap[d + k] = heap[s + k]!;
        }
      }
    }
  }
  return dst;
}

/**
 * Max-pool gradient with the cpu backend's semantics: the first maximum of each window in
 * row-major order receives the gradient, padding never does, and a window whose values are all
 * NaN or -Infinity passes none. A scalar loop suffices: it touches each input once per window
 * that covers it, which is small next to the convolutions around it.
 */
const maxPoolGradWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const kernel = MaxPoolGrad;
  const b = asWasmBackend(backend, kernel);
  const dy = requireInput(inputs['dy'], 'dy', kernel);
  const input = requireInput(inputs['input'], 'input', kernel);
  const rawAttrs: NamedAttrMap = attrs ?? {};
  const a = rawAttrs as unknown as MaxPoolGradAttrs;
  rejectDilations(rawAttrs, kernel);
  const info = backend_util.computePool2DInfo(
    as4D(input.shape, 'input', kernel),
    a.filterSize,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
  );
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const [dyN, dyH, dyW, dyC] = as4D(dy.shape, 'dy', kernel);
  if (dyN !== n || dyH !== oh || dyW !== ow || dyC !== c) {
    throw new Error(
      `${kernel} (wasm training kernel): dy has shape [${dy.shape.join(',')}], expected [${[n, oh, ow, c].join(',')}]`,
    );
  }

  const dx = b.makeOutput(input.shape.slice(), 'float32');
  const xv = f32View(b, input, kernel);
  const dyv = f32View(b, dy, kernel);
  const dxv = f32View(b, dx, kernel);
  dxv.fill(0);

  const best = new Float32Array(c);
  const bestAt = new Int32Array(c);
  for (let ni = 0; ni < n; ni++) {
    for (let oy = 0; oy < oh; oy++) {
      const yLo = Math.max(0, oy * sh - padTop);
      const yHi = Math.min(h, oy * sh - padTop + fh);
      for (let ox = 0; ox < ow; ox++) {
        const xLo = Math.max(0, ox * sw - padLeft);
        const xHi = Math.min(w, ox * sw - padLeft + fw);
        best.fill(-Infinity);
        bestAt.fill(-1);
        for (let iy = yLo; iy < yHi; iy++) {
          for (let ix = xLo; ix < xHi; ix++) {
            const base = ((ni * h + iy) * w + ix) * c;
            for (let ch = 0; ch < c; ch++) {
              const v = xv[base + ch]!;
              if (v > best[ch]!) {
                best[ch] = v;
                bestAt[ch] = base + ch;
              }
            }
          }
        }
        const dyBase = ((ni * oh + oy) * ow + ox) * c;
        for (let ch = 0; ch < c; ch++) {
          const at = bestAt[ch]!;
          if (at >= 0) dxv[at]! += dyv[dyBase + ch]!;
        }
      }
    }
  }
  return dx;
};

const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: BACKEND,
  kernelFunc: conv2DBackpropFilterWasm,
};

const maxPoolGradConfig: KernelConfig = {
  kernelName: MaxPoolGrad,
  backendName: BACKEND,
  kernelFunc: maxPoolGradWasm,
};

export interface WasmTrainingKernelOptions {
  /**
   * Replace the wasm backend's own (incorrect, see the file comment) MaxPoolGrad with the
   * implementation here. Default true.
   */
  replaceMaxPoolGrad?: boolean;
}

/**
 * Registers the kernels the wasm backend needs to train convolutional nets. Safe to call more than
 * once and before or after `tf.setBackend('wasm')`. Returns the kernel names registered by this
 * call (empty when everything was already in place).
 */
export function registerWasmTrainingKernels(options: WasmTrainingKernelOptions = {}): string[] {
  const registered: string[] = [];
  // getKernel is typed as always returning a config but yields undefined for a missing kernel.
  const existing = (name: string): KernelConfig | undefined => getKernel(name, BACKEND) as KernelConfig | undefined;

  if (existing(Conv2DBackpropFilter) === undefined) {
    registerKernel(conv2DBackpropFilterConfig);
    registered.push(Conv2DBackpropFilter);
  }

  const pool = existing(MaxPoolGrad);
  if (pool === undefined) {
    registerKernel(maxPoolGradConfig);
    registered.push(MaxPoolGrad);
  } else if ((options.replaceMaxPoolGrad ?? true) && pool.kernelFunc !== maxPoolGradWasm) {
    // Swapping after the backend has initialised is fine: the engine looks kernels up per call,
    // and ours needs no setupFunc.
    unregisterKernel(MaxPoolGrad, BACKEND);
    registerKernel(maxPoolGradConfig);
    registered.push(MaxPoolGrad);
  }
  return registered;
}
