import * as tf from '@tensorflow/tfjs';
import { BadInputError } from '../../core/errors';
import type { DataSource } from '../../datasets/disent/source';

interface ModelJson {
  modelTopology: unknown;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

/**
 * Loads a tfjs layers model (model.json + weight shards, as tf.io / tensorflowjs_converter write
 * them) from a folder or S3 prefix and copies every weight whose layer name and shape match into
 * `model`: how ImageNet-pretrained ResNet-18 weights start the BAR and Dogs & Cats settings.
 */
export async function applyInitialWeights(model: tf.LayersModel, source: DataSource, log: (line: string) => void): Promise<number> {
  let json: ModelJson;
  try {
    json = JSON.parse((await source.read('model.json')).toString('utf8')) as ModelJson;
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    throw new BadInputError(source.describe('model.json'), `not a tfjs model.json (${(err as Error).message})`);
  }
  if (!Array.isArray(json.weightsManifest)) throw new BadInputError(source.describe('model.json'), 'has no weightsManifest');
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const shards = await Promise.all(json.weightsManifest.flatMap((g) => g.paths).map((p) => source.read(p)));
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
