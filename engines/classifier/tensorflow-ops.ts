import * as tf from '@tensorflow/tfjs';

/**
 * TensorFlow ops called by name on tfjs-node's backend, for the ones tfjs either lacks or builds
 * out of several: tfjs's matMul is Reshape + BatchMatMulV2 + Reshape, its relu gradient is
 * Step (five ops) then Multiply, its bias gradient a Sum. On PyPI's CPU wheel every eager op
 * costs ~10 µs of dispatch before any arithmetic, so a training step's op count is its speed.
 * Outputs are ordinary tfjs tensors (tidy and dispose see them).
 */
export interface TensorflowOps {
  matMul(a: tf.Tensor2D, b: tf.Tensor2D, transposeA?: boolean, transposeB?: boolean): tf.Tensor2D;
  biasAdd(x: tf.Tensor2D, bias: tf.Tensor1D): tf.Tensor2D;
  relu<R extends tf.Tensor>(x: R): R;
  /** dy where the layer's output (or input) was positive, 0 elsewhere. */
  reluGrad<R extends tf.Tensor>(dy: R, output: R): R;
  /** Sum of dy over the batch: the gradient of a BiasAdd's bias. */
  biasAddGrad(dy: tf.Tensor2D): tf.Tensor1D;
  /**
   * Batch normalisation of an NHWC batch with its own statistics (FusedBatchNormV3, training):
   * `variance` is Bessel-corrected, as TensorFlow hands it to moving averages; `reserve` is what
   * the gradient op needs back.
   */
  fusedBatchNorm(x: tf.Tensor4D, scale: tf.Tensor1D, offset: tf.Tensor1D, epsilon: number): BatchNormOutputs;
  /** FusedBatchNormGradV3: gradients of fusedBatchNorm's y for x, scale and offset. */
  fusedBatchNormGrad(dy: tf.Tensor4D, x: tf.Tensor4D, scale: tf.Tensor1D, reserve: readonly tf.Tensor[], epsilon: number): BatchNormGradients;
}

export interface BatchNormOutputs {
  y: tf.Tensor4D;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
  reserve: tf.Tensor[];
}

export interface BatchNormGradients {
  dx: tf.Tensor4D;
  dScale: tf.Tensor1D;
  dOffset: tf.Tensor1D;
}

/**
 * A TensorFlow resource variable (VarHandleOp) living in the binding's eager context, outside
 * tfjs's bookkeeping: what TensorFlow's own optimizers update in place.
 */
export interface ResourceVariable {
  readonly shape: readonly number[];
  /** Overwrites the value with a copy of `value`. */
  assign(value: tf.Tensor): void;
  /** A snapshot of the value as a tfjs tensor (TensorFlow copies on the next in-place write). */
  read(): tf.Tensor;
  destroy(): void;
}

/** Adam's scalars for one step, TensorFlow's ResourceApplyAdam's inputs in its own form. */
export interface AdamScalars {
  beta1Power: number;
  beta2Power: number;
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

export interface TensorflowResources {
  variable(shape: readonly number[], initial: tf.Tensor): ResourceVariable;
  /**
   * TensorFlow's fused Adam kernel (one op per variable, vectorised and threaded, in place):
   * lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t); m, v as usual; var -= lr_t * m / (sqrt(v) + epsilon).
   */
  applyAdam(variable: ResourceVariable, m: ResourceVariable, v: ResourceVariable, scalars: AdamScalars, gradient: tf.Tensor): void;
}

interface TfeOpAttr {
  name: string;
  type: number;
  value: boolean | number | string | number[];
}

interface TensorMetadata {
  id: number;
  shape: number[];
  dtype: number;
}

/** The part of tfjs-node's NodeJSKernelBackend used here, checked at run time. */
interface NodeBackendLike {
  binding: {
    TF_ATTR_BOOL: number;
    TF_ATTR_TYPE: number;
    TF_ATTR_STRING: number;
    TF_ATTR_SHAPE: number;
    TF_ATTR_FLOAT: number;
    TF_FLOAT: number;
    executeOp(name: string, attrs: TfeOpAttr[], inputIds: number[], numOutputs: number): TensorMetadata[];
    deleteTensor(id: number): void;
  };
  executeSingleOutput(name: string, attrs: TfeOpAttr[], inputs: tf.TensorInfo[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: TfeOpAttr[], inputs: tf.TensorInfo[], numOutputs: number): tf.Tensor[];
  getInputTensorIds(tensors: tf.TensorInfo[]): number[];
  createOutputTensor(metadata: TensorMetadata): tf.Tensor;
}

function nodeBackend(): NodeBackendLike {
  const b = tf.backend() as unknown as Partial<NodeBackendLike>;
  if (
    tf.getBackend() !== 'tensorflow' || typeof b.executeSingleOutput !== 'function' || typeof b.getInputTensorIds !== 'function' ||
    typeof b.createOutputTensor !== 'function' || typeof b.executeMultipleOutputs !== 'function' || typeof b.binding?.executeOp !== 'function'
  ) {
    throw new Error(`TensorFlow ops need the native tensorflow backend; the active backend is ${tf.getBackend()}`);
  }
  return b as NodeBackendLike;
}

/** Whether the active tfjs backend is the native TensorFlow binding (CPU or GPU). */
export function onNativeTensorflow(): boolean {
  try {
    nodeBackend();
    return true;
  } catch {
    return false;
  }
}

export function tensorflowOps(): TensorflowOps {
  const backend = nodeBackend();
  const { binding } = backend;
  const T: TfeOpAttr = { name: 'T', type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT };
  const nhwc: TfeOpAttr = { name: 'data_format', type: binding.TF_ATTR_STRING, value: 'NHWC' };
  const flag = (name: string, value: boolean): TfeOpAttr => ({ name, type: binding.TF_ATTR_BOOL, value });
  const run = <R extends tf.Tensor>(op: string, attrs: TfeOpAttr[], inputs: tf.Tensor[]): R =>
    backend.executeSingleOutput(op, attrs, inputs) as R;
  const bnAttrs = (epsilon: number): TfeOpAttr[] => [
    T, { name: 'U', type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT }, { name: 'epsilon', type: binding.TF_ATTR_FLOAT, value: epsilon },
    nhwc, flag('is_training', true),
  ];
  return {
    // BatchMatMulV2 on rank-2 operands, not MatMul: as fast here, and TensorFlow 2.21's eager MatMul
    // corrupts the heap when the process takes profiler signals (`node --cpu-prof` aborts in malloc
    // within seconds; BatchMatMulV2, Relu and tfjs's own ops do not).
    matMul: (a, b, transposeA = false, transposeB = false) =>
      run('BatchMatMulV2', [T, flag('adj_x', transposeA), flag('adj_y', transposeB)], [a, b]),
    biasAdd: (x, bias) => run('BiasAdd', [T, nhwc], [x, bias]),
    relu: (x) => run('Relu', [T], [x]),
    reluGrad: (dy, output) => run('ReluGrad', [T], [dy, output]),
    biasAddGrad: (dy) => run('BiasAddGrad', [T, nhwc], [dy]),
    fusedBatchNorm: (x, scale, offset, epsilon) => tf.tidy(() => {
      // No running statistics in: exponential_avg_factor 1 makes the op return the batch's own.
      const none = tf.tensor1d([]);
      const attrs = [...bnAttrs(epsilon), { name: 'exponential_avg_factor', type: binding.TF_ATTR_FLOAT, value: 1 }];
      const [y, mean, variance, ...reserve] = backend.executeMultipleOutputs('FusedBatchNormV3', attrs, [x, scale, offset, none, none], 6);
      return { y: y as tf.Tensor4D, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D, reserve };
    }),
    fusedBatchNormGrad: (dy, x, scale, reserve, epsilon) => {
      const [dx, dScale, dOffset, ...rest] = backend.executeMultipleOutputs('FusedBatchNormGradV3', bnAttrs(epsilon), [dy, x, scale, ...reserve], 5);
      tf.dispose(rest);
      return { dx: dx as tf.Tensor4D, dScale: dScale as tf.Tensor1D, dOffset: dOffset as tf.Tensor1D };
    },
  };
}

/**
 * A copy of a tensor in memory TensorFlow allocated. tfjs-node hands TensorFlow the memory of the
 * JavaScript array a tensor was made from, aligned as V8 aligned it; a variable assigned from it may
 * keep that buffer (TensorFlow forwards an input it holds the last reference to), and Adam's kernel
 * then aborts the process on a buffer less aligned than its vector code needs
 * ("CheckTypeAndIsAligned"; seen in about one run in 28 of the graph step's unit test). What a
 * variable takes in is therefore computed by TensorFlow, never a JavaScript array. x * 1 is exact.
 */
export function tfOwned(t: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(t, tf.scalar(1, t.dtype)));
}

let resourceCount = 0;

export function tensorflowResources(): TensorflowResources {
  const backend = nodeBackend();
  const { binding } = backend;
  const dtype: TfeOpAttr = { name: 'dtype', type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT };
  const T: TfeOpAttr = { name: 'T', type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT };
  const flag = (name: string, value: boolean): TfeOpAttr => ({ name, type: binding.TF_ATTR_BOOL, value });
  const str = (name: string, value: string): TfeOpAttr => ({ name, type: binding.TF_ATTR_STRING, value });
  const handles = new WeakMap<ResourceVariable, number>();
  const handleOf = (v: ResourceVariable): number => {
    const id = handles.get(v);
    if (id === undefined) throw new Error('resource variable used after destroy()');
    return id;
  };
  return {
    variable(shape, initial) {
      // A process-unique shared_name: two handles with the same one would be the same variable.
      const name = `diffubias_resource_${process.pid}_${resourceCount++}`;
      const [meta] = binding.executeOp(
        'VarHandleOp', [dtype, { name: 'shape', type: binding.TF_ATTR_SHAPE, value: [...shape] }, str('container', ''), str('shared_name', name)], [], 1,
      );
      const variable: ResourceVariable = {
        shape,
        assign(value) {
          if (!tf.util.arraysEqual(value.shape, [...shape])) throw new Error(`resource variable of shape [${shape}] assigned [${value.shape}]`);
          const owned = tfOwned(value);
          try {
            binding.executeOp('AssignVariableOp', [dtype], [handleOf(variable), ...backend.getInputTensorIds([owned])], 0);
          } finally {
            owned.dispose();
          }
        },
        read: () => backend.createOutputTensor(binding.executeOp('ReadVariableOp', [dtype], [handleOf(variable)], 1)[0]!),
        destroy() {
          const id = handles.get(variable);
          if (id === undefined) return;
          handles.delete(variable);
          binding.executeOp('DestroyResourceOp', [flag('ignore_lookup_error', true)], [id], 0);
          binding.deleteTensor(id);
        },
      };
      handles.set(variable, meta!.id);
      variable.assign(initial);
      return variable;
    },
    applyAdam(variable, m, v, s, gradient) {
      const scalars = [s.beta1Power, s.beta2Power, s.lr, s.beta1, s.beta2, s.epsilon].map((x) => tf.scalar(x, 'float32'));
      try {
        binding.executeOp(
          'ResourceApplyAdam', [T, flag('use_locking', false), flag('use_nesterov', false)],
          [handleOf(variable), handleOf(m), handleOf(v), ...backend.getInputTensorIds([...scalars, gradient])], 0,
        );
      } finally {
        tf.dispose(scalars);
      }
    },
  };
}
