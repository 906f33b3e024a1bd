/**
 * LLaVA-OneVision's pack_image_features (transformers 4.57, LlavaOnevisionModel): the projector's
 * features of an image's views become the features its `<image>` tokens are replaced with. First
 * the base view's features; then the crops' features laid out as one grid (crop rows x feature
 * rows, crop columns x feature columns), cut back to the image's aspect ratio (unpad_image), shrunk
 * with torch's bilinear interpolation when anyres_max_N says so, and read row by row with
 * `image_newline` after each row. The geometry is ./anyres.ts's; no maintained JavaScript library
 * does this (transformers.js 4.3.2 treats OneVision as plain LLaVA).
 */
import type { AnyresLayout } from './anyres';

const f = Math.fround;

/** Source index and weights of torch's bilinear interpolation (align_corners=False), in float32 as its CPU kernel. */
function linearTaps(inSize: number, outSize: number): { i0: Int32Array; i1: Int32Array; w0: Float32Array; w1: Float32Array } {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const w0 = new Float32Array(outSize);
  const w1 = new Float32Array(outSize);
  const scale = f(inSize / outSize);
  for (let o = 0; o < outSize; o++) {
    if (inSize === outSize) {
      i0[o] = i1[o] = o;
      w0[o] = 1;
      continue;
    }
    const src = Math.max(0, f(f(scale * f(o + 0.5)) - 0.5));
    const index = Math.min(Math.floor(src), inSize - 1);
    const lambda = Math.min(Math.max(f(src - index), 0), 1);
    i0[o] = index;
    i1[o] = index + (index < inSize - 1 ? 1 : 0);
    w1[o] = lambda;
    w0[o] = f(1 - lambda);
  }
  return { i0, i1, w0, w1 };
}

/**
 * `grid` ([rows, cols, hidden], channel last) resized to [outRows, outCols, hidden] as
 * `torch.nn.functional.interpolate(mode="bilinear")` does it channel by channel: width taps first,
 * then height, each product and sum rounded to float32.
 */
export function bilinear(grid: Float32Array, rows: number, cols: number, hidden: number, outRows: number, outCols: number): Float32Array {
  const h = linearTaps(rows, outRows);
  const w = linearTaps(cols, outCols);
  const out = new Float32Array(outRows * outCols * hidden);
  const at = (r: number, c: number, k: number): number => grid[(r * cols + c) * hidden + k]!;
  for (let r = 0; r < outRows; r++) {
    for (let c = 0; c < outCols; c++) {
      for (let k = 0; k < hidden; k++) {
        const top = f(f(at(h.i0[r]!, w.i0[c]!, k) * w.w0[c]!) + f(at(h.i0[r]!, w.i1[c]!, k) * w.w1[c]!));
        const bottom = f(f(at(h.i1[r]!, w.i0[c]!, k) * w.w0[c]!) + f(at(h.i1[r]!, w.i1[c]!, k) * w.w1[c]!));
        out[(r * outCols + c) * hidden + k] = f(f(top * h.w0[r]!) + f(bottom * h.w1[r]!));
      }
    }
  }
  return out;
}

/**
 * The packed features of one image: `views` holds the projector's output of its `layout.views`
 * views ([views, side * side, hidden], base view first, crops row by row), `newline` the
 * model's image_newline [hidden]. Returns [layout.tokens, hidden].
 */
export function packImageFeatures(views: Float32Array, layout: AnyresLayout, side: number, hidden: number, newline: Float32Array): Float32Array {
  const perView = side * side * hidden;
  if (views.length < layout.views * perView) throw new RangeError(`${views.length / hidden} features for ${layout.views} views of ${side * side}`);
  if (newline.length !== hidden) throw new RangeError(`image_newline has ${newline.length} values, features ${hidden}`);
  const [rows, cols] = layout.unpadded;
  const gridCols = layout.grid[1];
  // The kept part of the crops' feature grid, channel last: feature row y, column x of the whole grid
  // is crop (y / side, x / side)'s feature (y % side, x % side).
  let grid: Float32Array = new Float32Array(rows * cols * hidden);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      const gy = y + layout.unpadTop;
      const gx = x + layout.unpadLeft;
      const view = 1 + Math.floor(gy / side) * gridCols + Math.floor(gx / side);
      const from = view * perView + ((gy % side) * side + (gx % side)) * hidden;
      grid.set(views.subarray(from, from + hidden), (y * cols + x) * hidden);
    }
  }
  const [outRows, outCols] = layout.packed;
  if (outRows !== rows || outCols !== cols) grid = bilinear(grid, rows, cols, hidden, outRows, outCols);
  const out = new Float32Array(layout.tokens * hidden);
  out.set(views.subarray(0, perView), 0);
  let token = side * side;
  for (let y = 0; y < outRows; y++) {
    out.set(grid.subarray(y * outCols * hidden, (y + 1) * outCols * hidden), token * hidden);
    token += outCols;
    out.set(newline, token * hidden);
    token += 1;
  }
  return out;
}
