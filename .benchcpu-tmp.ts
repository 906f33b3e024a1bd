import * as tf from '@tensorflow/tfjs';
async function main() {
  await tf.setBackend('cpu');
  for (const n of [4, 64]) {
    const x = tf.randomNormal([n,32,32,64]); const dy = tf.randomNormal([n,32,32,64]);
    const t0 = performance.now();
    const r = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3,3,64,64] } as unknown as tf.NamedAttrMap) as tf.Tensor; r.dataSync();
    console.log('cpu batch', n, (performance.now() - t0).toFixed(0), 'ms/call');
  }
}
main();
