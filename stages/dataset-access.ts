import { listSplit, type Split } from '../datasets/disent/layout';
import { SplitReader, type ImageItem } from '../datasets/disent/reader';
import { openDataSource } from '../core/data-source';
import { DATASETS } from '../datasets/specs';
import { locationKey } from '../core/location';
import { ProcessCache } from '../core/process-cache';
import type { S3Settings } from '../core/store';
import type { DatasetRef } from './contracts';

const readers = new ProcessCache<SplitReader>({ capacity: 6 });

/**
 * A split's reader, shared by the stages a worker runs one after another (train, score, evaluate),
 * so Colored MNIST is decoded once per process rather than once per stage.
 */
export function splitReader(ref: DatasetRef, split: Split, s3: S3Settings): Promise<SplitReader> {
  const key = JSON.stringify([locationKey(ref.root, s3), ref.name, ref.ratio, split]);
  return readers.get(key, async () => {
    const source = openDataSource(ref.root, s3);
    const spec = DATASETS[ref.name];
    const { samples } = await listSplit(source, ref.name, ref.ratio, split, spec.classNames.length);
    const items: ImageItem[] = samples.map((s) => ({
      location: source.describe(s.path), label: s.label, bias: s.bias, load: () => source.read(s.path),
    }));
    return new SplitReader(items, { imageSize: spec.imageSize });
  });
}
