import sharp from 'sharp';
import { loadCaptioner, type CaptionDevice, type CaptionImage, type CaptionStrategy } from './captioner';

export interface CaptionThroughput {
  images_per_s: number;
  captions_per_s: number;
  /** Seconds to load the bundle (first load in this process; 0 when it was already loaded). */
  load_s: number;
  images: number;
  batch: number;
  per_image: number;
  strategy: CaptionStrategy;
  device: CaptionDevice;
  model_type: string;
}

export interface CaptionThroughputOptions {
  images?: number;
  batch?: number;
  perImage?: number;
  strategy?: CaptionStrategy;
  device?: CaptionDevice;
}

/** A 32x32 PNG of random colours (deterministic per index). */
async function syntheticPng(index: number): Promise<Uint8Array> {
  const size = 32;
  const pixels = Buffer.alloc(size * size * 3);
  let state = (index + 1) * 2654435761;
  for (let i = 0; i < pixels.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    pixels[i] = state >>> 24;
  }
  return sharp(pixels, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
}

/**
 * Captioning throughput of a bundle (the `caption.tiny` benchmark runs it on
 * test/fixtures/tiny-captioner): images per second with the stage's defaults (beam search, 3
 * captions per image), after one warm-up batch.
 */
export async function captionThroughput(bundlePath: string, options: CaptionThroughputOptions = {}): Promise<CaptionThroughput> {
  const images = options.images ?? 32;
  const batch = options.batch ?? 8;
  const perImage = options.perImage ?? 3;
  const strategy = options.strategy ?? 'beam';
  const device = options.device ?? 'cpu';
  let start = performance.now();
  const captioner = await loadCaptioner(bundlePath, { device });
  const loadSeconds = (performance.now() - start) / 1000;
  const inputs: CaptionImage[] = await Promise.all(
    Array.from({ length: images }, async (_, i) => ({ bytes: await syntheticPng(i), name: `synthetic-${i}.png` })),
  );
  const request = { strategy, perImage, batchSize: batch, seed: 0 };
  await captioner.caption(inputs.slice(0, batch), request);
  start = performance.now();
  let captions = 0;
  for (const result of await captioner.caption(inputs, request)) captions += result.captions.length;
  const seconds = (performance.now() - start) / 1000;
  return {
    images_per_s: Number((images / seconds).toFixed(1)),
    captions_per_s: Number((captions / seconds).toFixed(1)),
    load_s: Number(loadSeconds.toFixed(2)),
    images,
    batch,
    per_image: perImage,
    strategy,
    device,
    model_type: captioner.modelType,
  };
}
