process.env.TF_CPP_MIN_LOG_LEVEL='2';
const tf = require('@tensorflow/tfjs-node');
const a = tf.randomNormal([256, 2352]), b = tf.randomNormal([2352, 100]);
const s = tf.scalar(1), t = tf.randomNormal([256,100]);
function time(name, f, n = 200) { for (let i=0;i<10;i++) tf.tidy(f); const t0 = performance.now(); for (let i=0;i<n;i++) tf.tidy(f); tf.tidy(() => f()).dataSync?.(); console.log(name.padEnd(30), ((performance.now()-t0)/n*1000).toFixed(1), 'us'); }
time('matmul 256x2352x100', () => tf.matMul(a, b));
time('matmul T 2352x256x100', () => tf.matMul(a, t, true, false));
time('add small', () => tf.add(t, t));
time('mul scalar', () => tf.mul(t, s));
time('scalar create', () => tf.scalar(3));
time('relu', () => tf.relu(t));
