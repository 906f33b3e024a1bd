import type * as tf from '@tensorflow/tfjs';
import { buildModel, type ModelSpec } from './models';
import type { EpochRecord } from './train';
import { decodeTensors, encodeTensors, modelWeights, setModelWeights } from './weights';

export interface ModelMeta {
  spec: ModelSpec;
  bestEpoch: number;
  validAccuracy: number;
  history: EpochRecord[];
  /** The tfjs backend that trained it (absent in files from before it was recorded). */
  backend?: string;
}

/** A trained classifier as one file: architecture, provenance and weights. */
export async function encodeModel(model: tf.LayersModel, meta: ModelMeta): Promise<Uint8Array> {
  return encodeTensors(meta, { weights: await modelWeights(model) });
}

/** A model file read back: the model built and loaded, and what the file says of it. */
export interface DecodedModel {
  model: tf.LayersModel;
  meta: ModelMeta;
}

export function decodeModel(bytes: Uint8Array, where: string): DecodedModel {
  const { meta, groups } = decodeTensors<ModelMeta>(bytes, where);
  const model = buildModel(meta.spec);
  setModelWeights(model, groups.weights ?? [], where);
  return { model, meta };
}
