/**
 * What the classifier reads its images from: the training and evaluation loops need a size and
 * batches in a seeded order, nothing of where the images live. datasets/disent's SplitReader is
 * one (the stages pass it in); a test can hand in an array.
 */
export interface ImageBatch {
  /** [size, height, width, 3], scaled to [0, 1]. */
  x: Float32Array;
  labels: Int32Array;
  biases: Int32Array;
  /** Positions of the batch's images in the source. */
  indices: number[];
  size: number;
}

export interface BatchOrder {
  batchSize: number;
  /** Shuffle with this seed; absent = the source's order. */
  shuffleSeed?: number;
  /** Augment (random crop + flip) with this seed; absent = none. */
  augmentSeed?: number;
}

export interface BatchSource {
  readonly size: number;
  batches(order: BatchOrder): AsyncIterable<ImageBatch>;
}
