import { describe, expect, it } from 'vitest';
import { colourGrid, nearestColour } from '../../stages/report/colour-check';
import { CMNIST_COLORS } from '../../datasets/cmnist/colors';

const palette = { rgb: CMNIST_COLORS.map((c) => c.rgb) };

/** A 4x4 image: black background, a stroke of `rgb` scaled by `intensity`. */
function digit(rgb: readonly number[], intensity = 1): Uint8Array {
  const px = new Uint8Array(4 * 4 * 3);
  for (const i of [5, 6, 9, 10]) rgb.forEach((v, c) => { px[i * 3 + c] = Math.round(v * intensity); });
  return px;
}

describe('the colour a generated image carries', () => {
  it('is the bias colour nearest its foreground, at any stroke intensity', () => {
    CMNIST_COLORS.forEach((c, i) => {
      expect(nearestColour(digit(c.rgb), palette), c.name).toBe(i);
      expect(nearestColour(digit(c.rgb, 0.6), palette), `${c.name} faded`).toBe(i);
    });
    expect(nearestColour(new Uint8Array(48), palette)).toBeUndefined();
  });

  it('grids class x colour, counting images that carry their own class colour', () => {
    const grid = colourGrid([
      { label: 3, colour: 3, example: 'a' }, { label: 3, colour: 5, example: 'b' }, { label: 3, colour: 5, example: 'c' }, { label: 1, colour: undefined, example: 'd' },
    ], 10, 10);
    expect(grid.cells[3]![5]).toEqual({ count: 2, example: 'b' });
    expect(grid).toMatchObject({ measured: 3, ownColour: 1, noForeground: 1 });
  });
});
