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

/** Per-channel input normalisation, `(x - mean) / std` on [0, 1] pixels (RGB order). */
export interface InputNorm {
  mean: [number, number, number];
  std: [number, number, number];
}

/** torchvision's ImageNet statistics: what ImageNet-pretrained weights expect their inputs scaled by. */
export const IMAGENET_NORM: InputNorm = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
/**
 * The peers' MLP input (LfF's module/mlp.py, kept by DisEnt and BiasEnsemble): the model divides by 255
 * pixels that ToTensor() already scaled to [0, 1], so it sees [0, 1/255]. With Adam the first layer then
 * learns shape far more slowly and the model leans on colour longer: LfF's and DisEnt's published
 * vanilla rows were measured under this scaling (docs/protocol.md).
 */
export const DIVIDE_255_NORM: InputNorm = { mean: [0, 0, 0], std: [255, 255, 255] };

/** The same batches, normalised per channel (HWC, channels last); the source's own arrays are not touched. */
export function normalizedSource(source: BatchSource, norm: InputNorm | undefined): BatchSource {
  if (!norm) return source;
  return {
    size: source.size,
    async *batches(order: BatchOrder) {
      for await (const batch of source.batches(order)) {
        const x = new Float32Array(batch.x.length);
        for (let i = 0; i < x.length; i++) x[i] = (batch.x[i]! - norm.mean[i % 3]!) / norm.std[i % 3]!;
        yield { ...batch, x };
      }
    },
  };
}
