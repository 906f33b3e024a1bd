process.env.TF_CPP_MIN_LOG_LEVEL='2';
const tf = require('@tensorflow/tfjs-node');
const n = 256000; const a = tf.randomNormal([n]), b = tf.randomNormal([n]); const s = tf.scalar(0.9);
const parts = [tf.randomNormal([2352,100]), tf.randomNormal([100]), tf.randomNormal([100,100]), tf.randomNormal([100]), tf.randomNormal([100,100]), tf.randomNormal([100]), tf.randomNormal([100,10]), tf.randomNormal([10])];
const sizes = parts.map(p => p.size); const tot = sizes.reduce((x,y)=>x+y);
const flat = tf.randomNormal([tot]);
function time(name, f, k = 300) { for (let i=0;i<20;i++) tf.dispose(f()); const t0 = performance.now(); for (let i=0;i<k;i++) tf.dispose(f()); console.log(name.padEnd(30), ((performance.now()-t0)/k*1000).toFixed(1), 'us'); }
time('add n', () => tf.add(a, b));
time('mul scalar tensor', () => tf.mul(a, s));
time('mul number', () => tf.mul(a, 0.9));
time('sqrt', () => tf.sqrt(a));
time('square', () => tf.square(a));
time('div', () => tf.div(a, b));
time('concat 8 (reshaped)', () => tf.tidy(() => tf.concat(parts.map(p => tf.reshape(p, [-1])))));
time('split 8', () => tf.split(flat, sizes));
time('reshape', () => tf.reshape(a, [1000, 256]));
