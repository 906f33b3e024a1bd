/**
 * Pillow's bicubic resize of an 8-bit image, written out so that a TypeScript image processor
 * gets the very bytes Python's does: transformers' image processors resize through
 * `PIL.Image.resize(..., BICUBIC)` on uint8 pixels, and sharp (what transformers.js resizes with)
 * uses other kernels, so its pixels differ by a few levels and a random-weight model's captions
 * with them. This is Pillow's `libImaging/Resample.c` (8 bits per channel): a separable filter,
 * one pass per axis, coefficients normalised in double and quantised to 22-bit fixed point, each
 * pass rounded and clipped to 8 bits. Pillow's own short cut is kept: a resize
 * to the same size is a copy.
 *
 * Which pass runs first changes the bytes (the intermediate image is rounded to 8 bits). Pillow's
 * C source (as late as its 13.0 development tree) always runs the horizontal pass first; the pinned
 * Pillow 13.0.0 wheel (tools/requirements-tiny-vlm.txt) runs the vertical one first when the height
 * shrinks by more than twice as many pixels as the width does. That rule is read off the wheel, not
 * a source: it matched which order reproduces `Image.resize` on ~1,800 random sizes from 2 to
 * 1,300 px (no exception), ties going to horizontal first.
 */

/** An 8-bit image: `channels` interleaved values per pixel, rows top to bottom. */
export interface Pixels {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: number;
}

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
/** Pillow's BICUBIC kernel: Keys' cubic convolution with a = -0.5, support 2. */
const BICUBIC_SUPPORT = 2;

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coefficients {
  /** Per output index: the first input index and how many inputs it reads. */
  first: Int32Array;
  count: Int32Array;
  /** `size` fixed-point weights per output index. */
  weights: Int32Array;
  size: number;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis (the whole input, no box). */
function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = BICUBIC_SUPPORT * filterScale;
  const size = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * size);
  const k = new Float64Array(size);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterScale;
    // C's (int) cast truncates toward zero.
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = bicubic((x + xmin - center + 0.5) * ss);
      ww += k[x]!;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x]! / ww : k[x]!;
      weights[xx * size + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    first[xx] = xmin;
    count[xx] = xmax;
  }
  return { first, count, weights, size };
}

function clip8(value: number): number {
  if (value >= ONE * 256) return 255;
  if (value <= 0) return 0;
  return Math.floor(value / ONE);
}

/** One pass along rows (horizontal) or columns (vertical), as Pillow's ImagingResample{Horizontal,Vertical}_8bpc. */
function pass(image: Pixels, outWidth: number, outHeight: number, horizontal: boolean): Pixels {
  const { data, width, channels } = image;
  const c = horizontal ? coefficients(width, outWidth) : coefficients(image.height, outHeight);
  const out = new Uint8Array(outWidth * outHeight * channels);
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      const o = horizontal ? x : y;
      const start = c.first[o]!;
      const n = c.count[o]!;
      const base = o * c.size;
      for (let ch = 0; ch < channels; ch++) {
        let sum = ONE / 2;
        for (let i = 0; i < n; i++) {
          const at = horizontal ? (y * width + start + i) * channels + ch : ((start + i) * width + x) * channels + ch;
          sum += data[at]! * c.weights[base + i]!;
        }
        out[(y * outWidth + x) * channels + ch] = clip8(sum);
      }
    }
  }
  return { data: out, width: outWidth, height: outHeight, channels };
}

/** `image` resized to `width` x `height` as `PIL.Image.resize((width, height), Image.BICUBIC)` does it. */
export function resizeBicubic(image: Pixels, width: number, height: number): Pixels {
  if (!(width >= 1 && height >= 1 && Number.isInteger(width) && Number.isInteger(height))) {
    throw new RangeError(`cannot resize to ${width}x${height}`);
  }
  let out: Pixels = image;
  const verticalFirst = height < image.height && image.height - height > 2 * (image.width - width);
  if (verticalFirst) out = pass(out, image.width, height, false);
  if (width !== image.width) out = pass(out, width, out.height, true);
  if (height !== out.height) out = pass(out, width, height, false);
  return out === image ? { ...image, data: Uint8Array.from(image.data) } : out;
}
