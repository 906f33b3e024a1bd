"""The MLP's whole training step as one TensorFlow graph, saved as a SavedModel the product loads.

On PyPI's CPU wheel every eager op costs ~10 us of dispatch, and a step of LfF's MLP is ~30 ops; run as
one graph, grappler fuses MatMul + BiasAdd + Relu and the executor dispatches the rest in-process.
engines/classifier/dense-graph-step.ts feeds it batches and reads its variables back once an epoch.

The graph is a stack of `--depth` dense layers (ReLU between them, linear logits) whose variables have
a fixed rank but no fixed widths: the widths come from the weights the product loads into it, so one file serves LfF's
3 x 100 MLP and DisEnt's 100-100-16 alike, at any input size. Signatures:

  train(x [n, features] f32, labels [n] i32, lr, epsilon, q, gce) -> loss_sum
      mean CE (gce = 0) or GCE (gce = 1, (1 - p_y^q) / q) over the batch, its gradients, and one
      ResourceApplyAdam per variable. lr and epsilon arrive with Adam's bias corrections folded in
      (engines/classifier/resource-adam.ts explains why), so beta powers are passed as 0.
  load_params(p0..) -> done          sets the parameters (kernel, bias per layer: the model's order)
  load_moments(m0.., v0..) -> done   sets Adam's moments
  state() -> p0.., m0.., v0..        reads all three back

    python tools/make_dense_train_graph.py models/graphs/dense-4-adam   # in a venv with tools/requirements-graph.txt

Needs tensorflow-cpu (tools/requirements-graph.txt), the same TensorFlow release the product runs
(.diffubias/tools/tensorflow), so the C library reads the graph's ops as written. Python stays here.
"""
import argparse
import shutil

import tensorflow as tf

BETA1, BETA2 = 0.9, 0.999


class DenseTrainStep(tf.Module):
    def __init__(self, depth):
        super().__init__()
        self.depth = depth
        n = 2 * depth

        def var(name, i):
            # Known rank, unknown widths: the product assigns the real widths before the first step, and
            # a rank-2 kernel keeps tf.matmul a MatMul (unknown rank would make it a BatchMatMulV2, which
            # grappler does not fuse with BiasAdd + Relu and whose gradient also computes d/dx).
            rank = 2 if i % 2 == 0 else 1
            return tf.Variable(tf.zeros([1] * rank), shape=tf.TensorShape([None] * rank), name=name)

        self.params = [var(f"p{i}", i) for i in range(n)]
        self.m = [var(f"m{i}", i) for i in range(n)]
        self.v = [var(f"v{i}", i) for i in range(n)]

        self.train = tf.function(self._train, input_signature=[
            tf.TensorSpec([None, None], tf.float32, name="x"), tf.TensorSpec([None], tf.int32, name="labels"),
            tf.TensorSpec([], tf.float32, name="lr"), tf.TensorSpec([], tf.float32, name="epsilon"),
            tf.TensorSpec([], tf.float32, name="q"), tf.TensorSpec([], tf.float32, name="gce"),
        ])
        def any_shape(kinds):
            return [tf.TensorSpec(None, tf.float32, name=f"{kind}{i}") for kind in kinds for i in range(n)]

        self.load_params = tf.function(lambda *values: self._load(self.params, values), input_signature=any_shape("p"))
        self.load_moments = tf.function(lambda *values: self._load(self.m + self.v, values), input_signature=any_shape("mv"))
        self.state = tf.function(self._state, input_signature=[])

    def _logits(self, x):
        h = x
        for layer in range(self.depth):
            kernel, bias = self.params[2 * layer], self.params[2 * layer + 1]
            h = tf.nn.bias_add(tf.matmul(h, kernel), bias)
            if layer < self.depth - 1:
                h = tf.nn.relu(h)
        return h

    def _train(self, x, labels, lr, epsilon, q, gce):
        with tf.GradientTape() as tape:
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=self._logits(x))
            # (1 - p_y^q) / q with p_y^q = exp(-q * ce); q is 1 when gce is 0, so neither branch divides by 0.
            per_sample = gce * (1.0 - tf.exp(-q * ce)) / q + (1.0 - gce) * ce
            mean = tf.reduce_mean(per_sample)
        grads = tape.gradient(mean, self.params)
        zero = tf.constant(0.0)
        for p, m, v, g in zip(self.params, self.m, self.v, grads):
            tf.raw_ops.ResourceApplyAdam(var=p.handle, m=m.handle, v=v.handle, beta1_power=zero, beta2_power=zero,
                                         lr=lr, beta1=BETA1, beta2=BETA2, epsilon=epsilon, grad=g)
        return {"loss_sum": tf.reduce_sum(per_sample)}

    def _load(self, targets, values):
        for target, value in zip(targets, values):
            target.assign(value)
        return {"done": tf.constant(len(targets), tf.int32)}

    def _state(self):
        n = 2 * self.depth
        out = {}
        for kind, group in (("p", self.params), ("m", self.m), ("v", self.v)):
            for i in range(n):
                out[f"{kind}{i}"] = tf.identity(group[i])
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--depth", type=int, default=4)
    args = ap.parse_args()
    step = DenseTrainStep(args.depth)
    shutil.rmtree(args.out, ignore_errors=True)
    tf.saved_model.save(step, args.out, signatures={
        "train": step.train, "load_params": step.load_params, "load_moments": step.load_moments, "state": step.state})
    print(f"wrote {args.out} (tensorflow {tf.__version__}, depth {args.depth})")


if __name__ == "__main__":
    main()
