import type { RawImage } from '@huggingface/transformers';
import sharp from 'sharp';
import { BadInputError } from '../../core/errors';
import { imageSizeProblem, MAX_INPUT_PIXELS } from '../../core/image-limits';
import { transformers } from './transformers-internals';

/**
 * The longest side an image keeps before the processor sees it: the processor resizes to its own
 * 224 or 384 px anyway, and a 12-megapixel photo decoded at full size costs ~36 MB per image.
 */
export const CAPTION_DECODE_MAX_SIDE = 1024;

/**
 * Decodes PNG/JPEG/WebP... bytes with sharp (under the project's size and pixel limits), shrunk to
 * at most `maxSide` (Infinity: kept whole, for a family whose processor must see the image's own
 * size and pixels); unreadable or oversized bytes are bad input.
 */
export async function decodeImage(bytes: Uint8Array, name: string, maxSide = CAPTION_DECODE_MAX_SIDE): Promise<RawImage> {
  const { RawImage: Raw } = transformers();
  const tooBig = imageSizeProblem(bytes);
  if (tooBig) throw new BadInputError(name, tooBig);
  try {
    let decoder = sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS });
    if (Number.isFinite(maxSide)) decoder = decoder.resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true });
    const { data, info } = await decoder
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.width < 1 || info.height < 1) throw new Error('empty image');
    const image = new Raw(new Uint8ClampedArray(data.buffer, data.byteOffset, data.byteLength), info.width, info.height, info.channels as 1 | 2 | 3 | 4);
    return info.channels === 3 ? image : image.rgb();
  } catch (err) {
    throw new BadInputError(name, `not a readable image (${(err as Error).message})`);
  }
}
