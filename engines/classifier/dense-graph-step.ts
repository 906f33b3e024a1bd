import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { PROJECT_ROOT } from '../../core/project-root';
import { checkAdamState } from './host-adam';
import { tfOwned } from './tensorflow-ops';
import type { DenseLayer } from './dense-stack';
import type { LossName } from './losses';
import type { OptimizerState } from './step-optimizer';

/** tools/make_dense_train_graph.py's SavedModel: a dense stack of this many layers, its step and Adam. */
export const DENSE_TRAIN_GRAPH = join(PROJECT_ROOT, 'models', 'graphs', 'dense-4-adam');
const GRAPH_DEPTH = 4;

/** The part of tfjs-node's TFSavedModel this module uses. */
interface Signature {
  predict(inputs: tf.NamedTensorMap): tf.Tensor | tf.Tensor[] | tf.NamedTensorMap;
  dispose(): void;
}

interface TfjsNode {
  node: { loadSavedModel(path: string, tags: string[], signature: string): Promise<Signature> };
}

export interface DenseGraphStep {
  optimizer: OptimizerState;
  run(x: Float32Array, labels: Int32Array, size: number): tf.Scalar;
  syncModel(): void;
  dispose(): void;
}

/**
 * Whether a dense stack has the graph's shape: four dense layers, ReLU after all but the last
 * (LfF's MLP and DisEnt's), so the graph computes exactly what the model would.
 */
export function fitsDenseGraph(layers: readonly DenseLayer[]): boolean {
  return layers.length === GRAPH_DEPTH && layers.every((l, i) => l.relu === (i < GRAPH_DEPTH - 1));
}

function outputs(result: ReturnType<Signature['predict']>): tf.NamedTensorMap {
  if (result instanceof tf.Tensor || Array.isArray(result)) throw new Error(`${DENSE_TRAIN_GRAPH}: a signature returned unnamed outputs`);
  return result;
}

/**
 * The MLP's whole Adam step as one TensorFlow graph, on the native CPU backend: the batch goes in,
 * the summed loss comes out, and the parameters and Adam's moments stay in the graph's variables
 * between steps. Against the same step issued op by op (dense-stack.ts + resource-adam.ts) it saves
 * the eager dispatch of ~30 ops and lets grappler fuse MatMul + BiasAdd + Relu; the arithmetic is
 * the same (PyTorch's Adam, bias corrections folded in float64 on the host as ResourceAdam does).
 *
 * The model's variables are written from the graph by syncModel (before validation and checkpoints)
 * and read into it whenever something else wrote them (initial weights, a resumed checkpoint), so
 * the tfjs model stays what predictAll, modelWeights and the checkpoint format see. Each step gets
 * its own session (tfjs-node shares one per SavedModel path, and a session is its variables), from
 * a private copy of the SavedModel.
 */
export async function denseGraphStep(
  layers: readonly DenseLayer[], settings: { loss: LossName; gceQ: number; lr: number },
  beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8,
): Promise<DenseGraphStep> {
  if (!fitsDenseGraph(layers)) throw new Error(`the dense training graph takes ${GRAPH_DEPTH} dense layers (ReLU between them), not this stack`);
  if (settings.loss === 'gce' && !(settings.gceQ > 0 && settings.gceQ <= 1)) throw new RangeError(`GCE q must be in (0, 1], got ${settings.gceQ}`);
  const { node } = require('@tensorflow/tfjs-node') as TfjsNode;
  const dir = mkdtempSync(join(tmpdir(), 'diffubias-dense-graph-'));
  cpSync(DENSE_TRAIN_GRAPH, dir, { recursive: true });
  const signatures: Signature[] = [];
  const load = async (name: string) => {
    const s = await node.loadSavedModel(dir, ['serve'], name);
    signatures.push(s);
    return s;
  };
  let train: Signature, loadParams: Signature, loadMoments: Signature, state: Signature;
  try {
    [train, loadParams, loadMoments, state] = [await load('train'), await load('load_params'), await load('load_moments'), await load('state')];
  } catch (err) {
    for (const s of signatures) s.dispose();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${DENSE_TRAIN_GRAPH}: cannot load the dense training graph (${(err as Error).message.split('\n')[0]}); rebuild it with tools/make_dense_train_graph.py`);
  }

  const variables = layers.flatMap((l) => [l.kernel, l.bias]);
  const n = variables.length;
  const features = layers[0]!.kernel.shape[0]!;
  /** Each variable's data when the graph and the model last agreed: anything else means another writer. */
  let agreed: object[] = [];
  let iterations = 0;
  let learningRate = settings.lr;
  const named = (prefix: string, tensors: readonly tf.Tensor[]): tf.NamedTensorMap =>
    Object.fromEntries(tensors.map((t, i) => [`${prefix}${i}`, t]));
  const run = (signature: Signature, inputs: tf.NamedTensorMap) => outputs(signature.predict(inputs));

  const pushParams = () => {
    tf.tidy(() => { tf.dispose(Object.values(run(loadParams, named('p', variables.map(tfOwned))))); });
    agreed = variables.map((v) => v.dataId);
  };
  const zeroMoments = () => tf.tidy(() => {
    const zeros = variables.map((v) => tf.zerosLike(v));
    tf.dispose(Object.values(run(loadMoments, { ...named('m', zeros), ...named('v', zeros) })));
  });
  pushParams();
  zeroMoments();

  const readState = () => run(state, {});
  const optimizer: OptimizerState = {
    setLearningRate: (lr) => { learningRate = lr; },
    getWeights() {
      const s = readState();
      const out = [
        { name: 'iter', tensor: tf.scalar(iterations, 'int32') as tf.Tensor },
        ...variables.map((v, i) => ({ name: `${v.name}/m`, tensor: s[`m${i}`]! })),
        ...variables.map((v, i) => ({ name: `${v.name}/v`, tensor: s[`v${i}`]! })),
      ];
      tf.dispose(variables.map((_, i) => s[`p${i}`]!));
      return out;
    },
    setWeights(weights) {
      checkAdamState(weights, variables);
      tf.tidy(() => {
        const shaped = (k: number) => tfOwned(tf.reshape(weights[k]!.tensor, variables[(k - 1) % n]!.shape));
        const moments = { ...named('m', variables.map((_, i) => shaped(1 + i))), ...named('v', variables.map((_, i) => shaped(1 + n + i))) };
        tf.dispose(Object.values(run(loadMoments, moments)));
      });
      iterations = weights[0]!.tensor.dataSync()[0]!;
    },
    dispose: () => {},
  };

  const gce = settings.loss === 'gce';
  return {
    optimizer,
    run(x, labels, size) {
      if (variables.some((v, i) => v.dataId !== agreed[i])) pushParams();
      const t = iterations + 1;
      const sqrtBias2 = Math.sqrt(1 - beta2 ** t);
      const inputs = {
        x: tf.tensor2d(x.subarray(0, size * features), [size, features]),
        labels: tf.tensor1d(labels.subarray(0, size), 'int32'),
        lr: tf.scalar((learningRate * sqrtBias2) / (1 - beta1 ** t)),
        epsilon: tf.scalar(epsilon * sqrtBias2),
        q: tf.scalar(gce ? settings.gceQ : 1),
        gce: tf.scalar(gce ? 1 : 0),
      };
      try {
        const { loss_sum: sum } = run(train, inputs);
        iterations = t;
        return sum as tf.Scalar;
      } finally {
        tf.dispose(Object.values(inputs));
      }
    },
    syncModel() {
      const s = readState();
      variables.forEach((v, i) => v.assign(s[`p${i}`]!));
      tf.dispose(Object.values(s));
      agreed = variables.map((v) => v.dataId);
    },
    dispose() {
      for (const s of signatures) s.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
