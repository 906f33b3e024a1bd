import { decodePlainRgbPng } from '../../core/png';
import sharp from 'sharp';
import { BadInputError } from '../../core/errors';
import { Rng } from '../../core/random';
import { imageSizeProblem, MAX_INPUT_PIXELS } from '../../core/image-limits';

/** Decodes any image sharp reads into RGB uint8 [size, size, 3]; a corrupt file fails naming it. */
export async function decodeRgb(bytes: Buffer, size: number, where: string): Promise<Uint8Array> {
  const tooBig = imageSizeProblem(bytes);
  if (tooBig) throw new BadInputError(where, tooBig);
  try {
    // What every Colored MNIST image and every generated one is, decoded in this thread; the rest is sharp's.
    const plain = decodePlainRgbPng(bytes, size);
    if (plain) return plain;
    const { data, info } = await sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS })
      .resize(size, size, { fit: 'fill' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels === 3) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    // Grayscale sources come back with one channel: repeat it.
    const rgb = new Uint8Array(size * size * 3);
    for (let i = 0; i < size * size; i++) rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = data[i * info.channels]!;
    return rgb;
  } catch (err) {
    throw new BadInputError(where, `not a readable image (${(err as Error).message})`);
  }
}

/**
 * Table 6's augmentation for the photo datasets: random crop after 4 px zero padding (as DisEnt)
 * and horizontal flip, drawn from `seed` so an epoch's batches are reproducible.
 */
export function augment(rgb: Uint8Array, size: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const pad = 4;
  const dx = rng.int(2 * pad + 1) - pad;
  const dy = rng.int(2 * pad + 1) - pad;
  const flip = rng.float() < 0.5;
  const out = new Uint8Array(rgb.length);
  for (let y = 0; y < size; y++) {
    const sy = y + dy;
    if (sy < 0 || sy >= size) continue;
    for (let x = 0; x < size; x++) {
      const sx = (flip ? size - 1 - x : x) + dx;
      if (sx < 0 || sx >= size) continue;
      const o = (y * size + x) * 3;
      const s = (sy * size + sx) * 3;
      out[o] = rgb[s]!;
      out[o + 1] = rgb[s + 1]!;
      out[o + 2] = rgb[s + 2]!;
    }
  }
  return out;
}
