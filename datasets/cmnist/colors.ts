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
export const CMNIST_COLORS: readonly CmnistColor[] = Object.freeze([
  { name: 'red', rgb: [230, 25, 25] },
  { name: 'green', rgb: [25, 200, 25] },
  { name: 'blue', rgb: [30, 60, 230] },
  { name: 'yellow', rgb: [240, 230, 20] },
  { name: 'cyan', rgb: [20, 220, 220] },
  { name: 'magenta', rgb: [220, 30, 220] },
  { name: 'orange', rgb: [255, 140, 0] },
  { name: 'purple', rgb: [130, 40, 200] },
  { name: 'pink', rgb: [255, 150, 190] },
  { name: 'white', rgb: [240, 240, 240] },
] as const);
