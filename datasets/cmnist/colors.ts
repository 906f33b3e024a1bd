import colorsJson from '../../data/cmnist-colors.json';

/** One Colored MNIST color: a plain name (captions and reports say it) and its 8-bit RGB. */
export interface CmnistColor {
  readonly name: string;
  readonly rgb: readonly [number, number, number];
}

/**
 * The ten bias colors, index = the digit they are aligned with. They are kept far apart in RGB and
 * each has a common English name, because DiffuBias captions the images and filters captions by
 * color words: two colors a captioner would call by the same name would make the bias unnameable.
 */
export const CMNIST_COLORS: readonly CmnistColor[] = Object.freeze(
  // One list for the TypeScript builder and the Python trainers of the demo bundles.
  colorsJson.colors.map((c) => Object.freeze({ name: c.name, rgb: [c.rgb[0]!, c.rgb[1]!, c.rgb[2]!] as const })),
);
