import type { Split } from '../datasets/disent/layout';
import { listDatasetSplit } from '../datasets/layouts';
import { SplitReader, type ImageItem } from '../datasets/disent/reader';
import { openDataSource } from '../core/data-source';
import { specOf } from '../datasets/specs';
import { locationKey } from '../core/location';
import { ProcessCache } from '../core/process-cache';
import type { S3Settings } from '../core/store';
import type { DatasetRef } from './contracts';
import type { ValidationConfig } from './config/schema';
import type { InputNorm } from '../engines/classifier/batch-source';
import { deriveSeed, Rng } from '../core/random';
import { biasKnown, isConflicting } from '../core/bias';
import { BadInputError } from '../core/errors';

const readers = new ProcessCache<SplitReader>({ capacity: 6 });

/**
 * A split's reader, shared by the stages a worker runs one after another (train, score, evaluate),
 * so Colored MNIST is decoded once per process rather than once per stage.
 */
export function splitReader(ref: DatasetRef, split: Split, s3: S3Settings): Promise<SplitReader> {
  const key = JSON.stringify([locationKey(ref.root, s3), ref.name, ref.ratio, split]);
  return readers.get(key, async () => {
    const source = openDataSource(ref.root, s3);
    const spec = specOf(ref);
    const { samples } = await listDatasetSplit(source, spec, ref.ratio, split);
    const items: ImageItem[] = samples.map((s) => ({
      location: source.describe(s.path), label: s.label, bias: s.bias, load: () => source.read(s.path),
    }));
    return new SplitReader(items, { imageSize: spec.imageSize });
  });
}

/** The validation split a training stage measures its epochs on, and what it holds. */
export interface ValidationView {
  reader: SplitReader;
  images: number;
  conflicting: number;
}

/**
 * The validation split as the protocol asks (docs/protocol.md): as built (`unbiased`), or a view
 * of it at the training ratio (`biased`: every bias-aligned image it can keep, and bias-conflicting
 * ones to make up `ratio` percent), capped at `size` images. The subsets are class-stratified and
 * drawn from `seed`, so a sweep over seeds also varies the view.
 */
export async function validationView(ref: DatasetRef, valid: ValidationConfig, seed: number, s3: S3Settings): Promise<ValidationView> {
  const full = await splitReader(ref, 'valid', s3);
  const labelled = full.items.every((item) => biasKnown(item.bias));
  if (!labelled && valid.bias === 'biased') throw new BadInputError('selection.valid.bias', `biased needs bias labels, and ${ref.name} has none: use unbiased`);
  // Without bias labels the count is unknown (NaN: n/a on the page), not 0.
  const count = (items: readonly ImageItem[]) => (labelled ? items.filter(isConflicting).length : Number.NaN);
  if (valid.bias === 'unbiased' && (valid.size === undefined || valid.size >= full.size)) {
    return { reader: full, images: full.size, conflicting: count(full.items) };
  }
  const rng = new Rng(deriveSeed(seed, 0x7a11d));
  const indexed = full.items.map((item, index) => ({ item, index }));
  const aligned = shuffled(indexed.filter((e) => !isConflicting(e.item)), rng);
  const conflicting = shuffled(indexed.filter((e) => isConflicting(e.item)), rng);
  const share = valid.bias === 'biased' ? ref.ratio / 100 : conflicting.length / full.size;
  // The biased view is limited by its aligned images: 521 of them at 1% make a view of 526.
  const feasible = valid.bias === 'biased' ? Math.min(full.size, Math.floor(aligned.length / (1 - share)), conflicting.length / share) : full.size;
  const total = Math.max(1, Math.min(valid.size ?? Infinity, Math.floor(feasible)));
  const nConflicting = Math.min(conflicting.length, Math.round(total * share));
  const chosen = [...stratified(aligned, total - nConflicting), ...stratified(conflicting, nConflicting)].sort((a, b) => a.index - b.index);
  const items = chosen.map((e) => e.item);
  return { reader: new SplitReader(items, { imageSize: specOf(ref).imageSize }), images: items.length, conflicting: count(items) };
}

function shuffled<T>(items: T[], rng: Rng): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** `k` entries taken round-robin over labels, in each label's (shuffled) order. */
function stratified<T extends { item: ImageItem }>(entries: readonly T[], k: number): T[] {
  const byLabel = new Map<number, T[]>();
  for (const e of entries) byLabel.set(e.item.label, [...(byLabel.get(e.item.label) ?? []), e]);
  const queues = [...byLabel.entries()].sort((a, b) => a[0] - b[0]).map(([, list]) => list);
  const out: T[] = [];
  for (let round = 0; out.length < k && queues.some((q) => q.length > round); round++) {
    for (const q of queues) if (round < q.length && out.length < k) out.push(q[round]!);
  }
  return out;
}

/** The items' pixels in [0, 1] as the reader decodes them, and as a model with `norm` takes them. */
export async function itemPixels(items: readonly ImageItem[], imageSize: number, norm: InputNorm | undefined): Promise<{ raw: Float32Array; x: Float32Array }> {
  const reader = new SplitReader(items, { imageSize });
  const raw = new Float32Array(items.length * imageSize * imageSize * 3);
  let at = 0;
  for await (const batch of reader.batches({ batchSize: 256 })) {
    raw.set(batch.x, at);
    at += batch.x.length;
  }
  if (!norm) return { raw, x: raw };
  const x = new Float32Array(raw.length);
  for (let i = 0; i < x.length; i++) x[i] = (raw[i]! - norm.mean[i % 3]!) / norm.std[i % 3]!;
  return { raw, x };
}
