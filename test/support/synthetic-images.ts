import sharp from 'sharp';
import type { ImageItem } from '../../datasets/disent/reader';
import { Rng } from '../../core/random';

/**
 * A tiny learnable dataset: class k is a bright square in quadrant k % 4 on a colored background
 * (the bias: background color index), as PNG bytes so the real decoding path runs.
 */
export async function syntheticItems(n: number, options: { classes: number; size: number; seed: number; conflictEvery?: number }): Promise<ImageItem[]> {
  const rng = new Rng(options.seed);
  const items: ImageItem[] = [];
  for (let i = 0; i < n; i++) {
    const label = i % options.classes;
    const bias = options.conflictEvery && i % options.conflictEvery === 0 ? (label + 1) % options.classes : label;
    const s = options.size;
    const raw = Buffer.alloc(s * s * 3);
    const bg = [(bias * 70) % 256, (bias * 130) % 256, (bias * 200) % 256];
    const qx = (label % 2) * (s / 2);
    const qy = (Math.floor(label / 2) % 2) * (s / 2);
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const inSquare = x >= qx && x < qx + s / 2 && y >= qy && y < qy + s / 2;
        const noise = rng.int(20);
        for (let ch = 0; ch < 3; ch++) raw[(y * s + x) * 3 + ch] = Math.min(255, (inSquare ? 230 : bg[ch]!) + noise);
      }
    }
    const png = await sharp(raw, { raw: { width: s, height: s, channels: 3 } }).png().toBuffer();
    items.push({ location: `synthetic/${i}_${label}_${bias}.png`, label, bias, load: async () => png });
  }
  return items;
}
