import { listSplit, type Split } from '../../datasets/disent/layout';
import { SplitReader, type ImageItem } from '../../datasets/disent/reader';
import { openDataSource } from '../../datasets/disent/source';
import { DATASETS } from '../../datasets/specs';
import type { S3Settings } from '../../core/store';
import type { DatasetRef } from '../pipeline';

const readers = new Map<string, Promise<SplitReader>>();
const MAX_READERS = 6;

/**
 * A split's reader, shared by the stages a worker runs one after another (train, score, evaluate),
 * so Colored MNIST is decoded once per process rather than once per stage.
 */
export function splitReader(ref: DatasetRef, split: Split, s3: S3Settings): Promise<SplitReader> {
  const key = JSON.stringify([ref.root, ref.name, ref.ratio, split]);
  let reader = readers.get(key);
  if (!reader) {
    reader = (async () => {
      const source = openDataSource(ref.root, s3);
      const spec = DATASETS[ref.name];
      const { samples } = await listSplit(source, ref.name, ref.ratio, split, spec.classNames.length);
      const items: ImageItem[] = samples.map((s) => ({
        id: source.describe(s.path), label: s.label, bias: s.bias, load: () => source.read(s.path),
      }));
      return new SplitReader(items, { imageSize: spec.imageSize });
    })();
    reader.catch(() => readers.delete(key));
    readers.set(key, reader);
    // Oldest first out: bounded memory when one worker serves many experiments.
    if (readers.size > MAX_READERS) readers.delete(readers.keys().next().value!);
  }
  return reader;
}
