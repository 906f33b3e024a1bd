import * as tf from '@tensorflow/tfjs';
import { BadInputError } from '../../core/errors';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BundleKind, LocalBundle } from '../../core/bundle-store';
import { isSafeObjectKey } from '../../core/object-key';

/** How the bundle store names (and syncs) a folder of initial weights. */
export const INITIAL_WEIGHTS: BundleKind = { what: 'initial weights' };

async function readBundleFile(bundle: LocalBundle, path: string): Promise<Buffer> {
  if (!isSafeObjectKey(path)) throw new BadInputError(bundle.describe('model.json'), `weight path ${JSON.stringify(path)} leaves the folder`);
  try {
    return await readFile(join(bundle.root, ...path.split('/')));
  } catch (err) {
    throw new BadInputError(bundle.describe(path), `cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

interface ModelJson {
  modelTopology: unknown;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

/**
 * Loads a tfjs layers model (model.json + weight shards, as tf.io / tensorflowjs_converter write
 * them) from a folder or S3 prefix and copies every weight whose layer name and shape match into
 * `model`: how ImageNet-pretrained ResNet-18 weights start the BAR and Dogs & Cats settings. An
 * s3:// prefix is synced once into the bundle cache (core/bundle-store.ts) and read from there.
 */
export async function applyInitialWeights(model: tf.LayersModel, source: LocalBundle, log: (line: string) => void): Promise<number> {
  let json: ModelJson;
  try {
    json = JSON.parse((await readBundleFile(source, 'model.json')).toString('utf8')) as ModelJson;
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    throw new BadInputError(source.describe('model.json'), `not a tfjs model.json (${(err as Error).message})`);
  }
  if (!Array.isArray(json.weightsManifest)) throw new BadInputError(source.describe('model.json'), 'has no weightsManifest');
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const shards = await Promise.all(json.weightsManifest.flatMap((g) => g.paths).map((p) => readBundleFile(source, p)));
  const buffer = Buffer.concat(shards);
  const named = tf.io.decodeWeights(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength), specs);
  let copied = 0;
  for (const layer of model.layers) {
    const current = layer.getWeights();
    if (current.length === 0) continue;
    const candidates = layer.weights.map((w) => named[`${layer.name}/${w.originalName.split('/').pop()}`]);
    if (candidates.every((t, i) => t && t.shape.join('x') === current[i]!.shape.join('x'))) {
      layer.setWeights(candidates as tf.Tensor[]);
      copied += candidates.length;
    }
  }
  tf.dispose(Object.values(named));
  log(`initial weights: ${copied} of ${model.weights.length} tensors from ${source.describe('model.json')}`);
  if (copied === 0) throw new BadInputError(source.describe('model.json'), 'no layer name and shape matches the classifier');
  return copied;
}
