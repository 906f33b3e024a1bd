export interface Stat {
  /** Mean of the finite values; null when there are none. */
  mean: number | null;
  /** Sample standard deviation (n - 1); null below two values: one run has no spread to report. */
  std: number | null;
  /** How many finite values went in. */
  n: number;
}

/**
 * Mean and sample std of the values that are numbers. A value that is NaN or null (an accuracy on
 * a test split with no bias-aligned images, as BAR's and Dogs & Cats' are: Table 5; JSON turns NaN
 * into null) is left out, never averaged as 0.
 */
export function meanStd(values: readonly (number | null | undefined)[]): Stat {
  const finite = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const n = finite.length;
  if (n === 0) return { mean: null, std: null, n: 0 };
  const mean = finite.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(finite.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : null;
  return { mean, std, n };
}
