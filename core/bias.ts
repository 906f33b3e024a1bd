/**
 * The bias label of a sample whose dataset has none (an ImageFolder, a metadata CSV without a bias
 * column): what needs bias labels (aligned / conflicting subsets, the selection's precision and
 * recall) says n/a instead of a made-up number.
 */
export const UNKNOWN_BIAS = -1;

export function biasKnown(bias: number): boolean {
  return bias !== UNKNOWN_BIAS;
}

/** A bias-conflicting sample (label ≠ bias); one without a bias label is neither conflicting nor aligned. */
export function isConflicting(sample: { label: number; bias: number }): boolean {
  return biasKnown(sample.bias) && sample.label !== sample.bias;
}
