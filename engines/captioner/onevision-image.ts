/**
 * LLaVA-OneVision's image processor (transformers' LlavaOnevisionImageProcessor, the slow one the
 * hub checkpoints name): the base view (the whole image resized to the crop size) and the crops
 * of the image resized into its pinpoint and padded with black, every view rescaled and
 * normalised, as float32 [views, 3, crop, crop]. The arithmetic is Python's, to the bit: Pillow's
 * bicubic resize on 8-bit pixels (./pil-resize.ts), zero padding on bytes, `u8 * rescale` in
 * double then float32, `(x - mean) / std` in float32. The layout comes from ./anyres.ts.
 */
import type { AnyresLayout } from './anyres';
import { resizeBicubic, type Pixels } from './pil-resize';

export interface Normalisation {
  /** rescale_factor when do_rescale (1/255), else 1. */
  rescale: number;
  /** image_mean / image_std when do_normalize, else 0 / 1. */
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/** `image` (8-bit RGB) as `layout`'s views: float32 [views, 3, crop, crop], base view first, crops row by row. */
export function anyresPixelValues(image: Pixels, layout: AnyresLayout, cropSize: number, norm: Normalisation): Float32Array {
  if (image.channels !== 3) throw new RangeError(`expected an RGB image, got ${image.channels} channels`);
  const [bestH, bestW] = layout.best;
  const [resizedH, resizedW] = layout.resized;
  const resized = resizeBicubic(image, resizedW, resizedH);
  // The resized image pasted (centred) on black at the pinpoint's size.
  const canvas = new Uint8Array(bestH * bestW * 3);
  for (let y = 0; y < resizedH; y++) {
    const from = y * resizedW * 3;
    canvas.set(resized.data.subarray(from, from + resizedW * 3), ((y + layout.padTop) * bestW + layout.padLeft) * 3);
  }
  const plane = cropSize * cropSize;
  const out = new Float32Array(layout.views * 3 * plane);
  const mean = norm.mean.map(Math.fround);
  const std = norm.std.map(Math.fround);
  const write = (view: number, pixels: Uint8Array | Uint8ClampedArray, stride: number, top: number, left: number): void => {
    for (let c = 0; c < 3; c++) {
      const base = (view * 3 + c) * plane;
      for (let y = 0; y < cropSize; y++) {
        for (let x = 0; x < cropSize; x++) {
          const value = Math.fround(pixels[((top + y) * stride + left + x) * 3 + c]! * norm.rescale);
          out[base + y * cropSize + x] = Math.fround(Math.fround(value - mean[c]!) / std[c]!);
        }
      }
    }
  };
  write(0, resizeBicubic(image, cropSize, cropSize).data, cropSize, 0, 0);
  const [rows, cols] = layout.grid;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) write(1 + r * cols + c, canvas, bestW, r * cropSize, c * cropSize);
  }
  return out;
}
