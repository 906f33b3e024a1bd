import { deriveSeed, Rng } from '../../core/random';
import { augment, decodeRgb } from './images';

/** One image of a split, wherever it lives (dataset folder, S3, generated images). */
export interface ImageItem {
  /**
   * Where the image is: its full path or s3:// URI, the address scoreLosses writes into the loss
   * table and that later stages read the image from (core/data-source.ts's readFileAt). Errors name it.
   */
  location: string;
  label: number;
  bias: number;
  load(): Promise<Buffer>;
}

export interface Batch {
  /** [size, imageSize, imageSize, 3], scaled to [0, 1]. */
  x: Float32Array;
  labels: Int32Array;
  biases: Int32Array;
  /** Positions of the batch's images in the reader's item list. */
  indices: number[];
  size: number;
}

export interface BatchOptions {
  batchSize: number;
  /** Shuffle with this seed; absent = file order. */
  shuffleSeed?: number;
  /** Augment (random crop + flip) with this seed; absent = none. */
  augmentSeed?: number;
}

export interface ReaderOptions {
  imageSize: number;
  /** Keep decoded images in memory when the whole split fits in this many bytes (default 1 GiB). */
  cacheBytes?: number;
  /** Images decoded at once. */
  concurrency?: number;
}

/**
 * Streams batches of a split. Small splits (Colored MNIST: 55k x 28 x 28 x 3 = 130 MB) are decoded
 * once and kept; large ones (20k photos at 224 px = 3 GB) are decoded batch by batch.
 */
export class SplitReader {
  private readonly cache: (Uint8Array | undefined)[] | undefined;
  private readonly pixels: number;

  constructor(readonly items: readonly ImageItem[], private readonly options: ReaderOptions) {
    this.pixels = options.imageSize * options.imageSize * 3;
    const fits = items.length * this.pixels <= (options.cacheBytes ?? 1 << 30);
    this.cache = fits ? new Array(items.length) : undefined;
  }

  get size(): number {
    return this.items.length;
  }

  /** This split followed by more items (f_D's generated images), reusing the images decoded so far. */
  extend(extra: readonly ImageItem[]): SplitReader {
    const reader = new SplitReader([...this.items, ...extra], this.options);
    if (this.cache && reader.cache) this.cache.forEach((rgb, i) => { reader.cache![i] = rgb; });
    return reader;
  }

  private async image(i: number): Promise<Uint8Array> {
    const cached = this.cache?.[i];
    if (cached) return cached;
    const item = this.items[i]!;
    const rgb = await decodeRgb(await item.load(), this.options.imageSize, item.location);
    if (this.cache) this.cache[i] = rgb;
    return rgb;
  }

  async *batches(options: BatchOptions): AsyncGenerator<Batch> {
    const order = options.shuffleSeed === undefined
      ? Array.from({ length: this.items.length }, (_, i) => i)
      : new Rng(options.shuffleSeed).permutation(this.items.length);
    const concurrency = this.options.concurrency ?? 8;
    for (let start = 0; start < order.length; start += options.batchSize) {
      const indices = order.slice(start, start + options.batchSize);
      const images: Uint8Array[] = new Array(indices.length);
      for (let c = 0; c < indices.length; c += concurrency) {
        await Promise.all(indices.slice(c, c + concurrency).map(async (idx, k) => {
          images[c + k] = await this.image(idx);
        }));
      }
      const x = new Float32Array(indices.length * this.pixels);
      images.forEach((rgb, k) => {
        const src = options.augmentSeed === undefined ? rgb : augment(rgb, this.options.imageSize, deriveSeed(options.augmentSeed, indices[k]!));
        const offset = k * this.pixels;
        for (let p = 0; p < this.pixels; p++) x[offset + p] = src[p]! / 255;
      });
      yield {
        x,
        labels: Int32Array.from(indices, (i) => this.items[i]!.label),
        biases: Int32Array.from(indices, (i) => this.items[i]!.bias),
        indices,
        size: indices.length,
      };
    }
  }
}
