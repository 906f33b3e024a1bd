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
  /** Images loaded and decoded at once (a remote store's latency is hidden behind the others). */
  concurrency?: number;
}

/** Decoded images a reader keeps, in fixed-size chunks that an extended reader shares. */
interface DecodedCache {
  chunks: Uint8Array[];
  /** 1 where a slot holds its image. */
  filled: Uint8Array;
}

/** Images per cache chunk: few enough allocations for the collector, small enough to grow by. */
const CHUNK_IMAGES = 1024;

/**
 * Streams batches of a split. Small splits (Colored MNIST: 55k x 28 x 28 x 3 = 130 MB) are decoded
 * once and kept, in a few large chunks rather than one array per image (55k small arrays cost the
 * garbage collector seconds); large ones (20k photos at 224 px = 3 GB) are decoded batch by batch.
 * An item listed more than once (f_D's generated images, repeated per epoch) is loaded and decoded once.
 */
export class SplitReader {
  private readonly pixels: number;
  /** Each item's slot in the cache: the position of its first listing (same object, same slot). */
  private readonly slots: Int32Array;
  private readonly cache: DecodedCache | undefined;

  /** `base` is extend()'s: the reader whose items come first, whose slots and decoded chunks are shared. */
  constructor(readonly items: readonly ImageItem[], private readonly options: ReaderOptions, base?: { slots: Int32Array; cache?: DecodedCache; items: number }) {
    this.pixels = options.imageSize * options.imageSize * 3;
    this.slots = new Int32Array(items.length);
    const first = new Map<ImageItem, number>();
    // An extension keeps its base's slots and numbers its new ones from the next whole chunk, so
    // the base's chunks are shared, not copied.
    const start = base ? Math.ceil(base.items / CHUNK_IMAGES) * CHUNK_IMAGES : 0;
    let next = start;
    items.forEach((item, i) => {
      if (base && i < base.items) {
        this.slots[i] = base.slots[i]!;
        first.set(item, base.slots[i]!);
        return;
      }
      const seen = first.get(item);
      if (seen !== undefined) this.slots[i] = seen;
      else { first.set(item, next); this.slots[i] = next++; }
    });
    const fits = (next - start + (base?.items ?? 0)) * this.pixels <= (options.cacheBytes ?? 1 << 30);
    if (base && !base.cache) this.cache = undefined;
    else if (fits) {
      const filled = new Uint8Array(next);
      if (base?.cache) filled.set(base.cache.filled.subarray(0, Math.min(base.cache.filled.length, next)));
      this.cache = { chunks: base?.cache ? base.cache.chunks.slice() : [], filled };
    }
  }

  get size(): number {
    return this.items.length;
  }

  /** This split followed by more items (f_D's generated images), reusing the images decoded so far. */
  extend(extra: readonly ImageItem[]): SplitReader {
    return new SplitReader([...this.items, ...extra], this.options, { slots: this.slots, cache: this.cache, items: this.items.length });
  }

  /** Other items alone, read and decoded as this split's are (an ablation's training set). */
  only(items: readonly ImageItem[]): SplitReader {
    return new SplitReader(items, this.options);
  }

  private cached(slot: number): Uint8Array | undefined {
    if (!this.cache?.filled[slot]) return undefined;
    const at = (slot % CHUNK_IMAGES) * this.pixels;
    return this.cache.chunks[Math.floor(slot / CHUNK_IMAGES)]!.subarray(at, at + this.pixels);
  }

  private keep(slot: number, rgb: Uint8Array): void {
    if (!this.cache) return;
    const c = Math.floor(slot / CHUNK_IMAGES);
    const chunk = (this.cache.chunks[c] ??= new Uint8Array(CHUNK_IMAGES * this.pixels));
    chunk.set(rgb, (slot % CHUNK_IMAGES) * this.pixels);
    this.cache.filled[slot] = 1;
  }

  /** The images of these item positions, loading and decoding the ones not kept, `concurrency` at a time. */
  private async images(indices: readonly number[]): Promise<Uint8Array[]> {
    const out: Uint8Array[] = new Array(indices.length);
    const missing = new Map<number, number[]>();
    indices.forEach((idx, k) => {
      const slot = this.slots[idx]!;
      const hit = this.cached(slot);
      if (hit) out[k] = hit;
      else missing.set(slot, [...(missing.get(slot) ?? []), k]);
    });
    const todo = [...missing.entries()];
    let next = 0;
    const worker = async () => {
      while (next < todo.length) {
        const [slot, positions] = todo[next++]!;
        const item = this.items[indices[positions[0]!]!]!;
        const rgb = await decodeRgb(await item.load(), this.options.imageSize, item.location);
        this.keep(slot, rgb);
        for (const k of positions) out[k] = rgb;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency ?? 16, todo.length) }, worker));
    return out;
  }

  async *batches(options: BatchOptions): AsyncGenerator<Batch> {
    const order = options.shuffleSeed === undefined
      ? Array.from({ length: this.items.length }, (_, i) => i)
      : new Rng(options.shuffleSeed).permutation(this.items.length);
    for (let start = 0; start < order.length; start += options.batchSize) {
      const indices = order.slice(start, start + options.batchSize);
      const images = await this.images(indices);
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
