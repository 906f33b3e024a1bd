/**
 * Which Colored MNIST colour a generated image carries: the mean of its foreground pixels (the
 * digit; the background is black), matched to the nearest of the ten bias colours. A generated
 * image meant to be bias-conflicting should not carry its own class's colour.
 */
export interface Palette {
  readonly rgb: readonly (readonly [number, number, number])[];
}

/** Pixels brighter than this share of full intensity (max channel) are the digit. */
const FOREGROUND = 0.25;

/**
 * The palette index nearest the foreground's mean colour; undefined when nothing is foreground.
 * `full` is what full intensity reads as in `rgb` (255 for bytes, 1 for pixels in [0, 1]).
 */
export function nearestColour(rgb: ArrayLike<number>, palette: Palette, full = 255): number | undefined {
  let r = 0;
  let g = 0;
  let b = 0;
  let n = 0;
  for (let i = 0; i + 2 < rgb.length; i += 3) {
    const [pr, pg, pb] = [rgb[i]!, rgb[i + 1]!, rgb[i + 2]!];
    if (Math.max(pr, pg, pb) < FOREGROUND * full) continue;
    r += pr; g += pg; b += pb; n++;
  }
  if (n === 0) return undefined;
  // Intensity scales the colour (the digit's strokes fade): compare directions, not brightness.
  const mean = [r / n, g / n, b / n];
  const norm = (v: readonly number[]) => Math.hypot(...v) || 1;
  let best = 0;
  let bestScore = -Infinity;
  palette.rgb.forEach((c, i) => {
    const score = (mean[0]! * c[0] + mean[1]! * c[1] + mean[2]! * c[2]) / (norm(mean) * norm(c));
    if (score > bestScore) { bestScore = score; best = i; }
  });
  return best;
}

export interface ColourGrid<T> {
  /** cells[label][colour]: how many generated images of that class carry that colour, and one of them. */
  cells: { count: number; example?: T }[][];
  measured: number;
  /** Generated images carrying their own class's bias colour (bias-aligned: not what DiffuBias wants). */
  ownColour: number;
  noForeground: number;
}

export function colourGrid<T>(items: readonly { label: number; colour: number | undefined; example: T }[], classes: number, colours: number): ColourGrid<T> {
  const cells = Array.from({ length: classes }, () => Array.from({ length: colours }, () => ({ count: 0 } as { count: number; example?: T })));
  let ownColour = 0;
  let noForeground = 0;
  for (const item of items) {
    if (item.colour === undefined) { noForeground++; continue; }
    const cell = cells[item.label]?.[item.colour];
    if (!cell) continue;
    cell.count++;
    cell.example ??= item.example;
    if (item.colour === item.label) ownColour++;
  }
  return { cells, measured: items.length - noForeground, ownColour, noForeground };
}
