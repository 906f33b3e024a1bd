process.env.TF_CPP_MIN_LOG_LEVEL='2';
const tf = require('@tensorflow/tfjs-node');
const a = tf.randomNormal([256, 2352]), b = tf.randomNormal([2352, 100]), bias = tf.zeros([100]);
const a3 = a.reshape([1,256,2352]), b3 = b.reshape([1,2352,100]);
const dh = tf.randomNormal([256,100]);
function time(name, f, n = 300) { for (let i=0;i<20;i++) f().dispose(); const t0 = performance.now(); for (let i=0;i<n;i++) f().dispose(); console.log(name.padEnd(34), ((performance.now()-t0)/n*1000).toFixed(1), 'us'); }
time('MatMul', () => tf.matMul(a, b));
time('BatchMatMul 3d', () => tf.matMul(a3, b3));
time('FusedMatMul relu', () => tf.fused.matMul({a, b, bias, activation: 'relu'}));
time('MatMul transposeA (dW)', () => tf.matMul(a, dh, true, false));
time('einsum', () => tf.einsum('ij,jk->ik', a, b));
