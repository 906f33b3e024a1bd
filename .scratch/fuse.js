process.env.TF_CPP_MIN_LOG_LEVEL='2';
const tf = require('@tensorflow/tfjs-node');
const B=256, C=10;
function mlp(fused) { const input = tf.input({ shape: [28,28,3] }); let x = tf.layers.flatten().apply(input);
  for (let i = 0; i < 3; i++) { x = tf.layers.dense({ units: 100, activation: fused ? 'relu' : 'linear' }).apply(x); if (!fused) x = tf.layers.reLU().apply(x); }
  return tf.model({ inputs: input, outputs: tf.layers.dense({ units: C }).apply(x) }); }
const xs = tf.randomUniform([B,28,28,3]); const ys = tf.randomUniform([B],0,10,'int32');
function loss(l) { return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(l), tf.oneHot(ys, C)), 1))); }
for (const fused of [true, false, true, false]) { const m = mlp(fused); const vars = m.trainableWeights.map(w => w.read());
  const f = () => tf.tidy(() => tf.variableGrads(() => loss(m.apply(xs, {training: true})), vars).value);
  for (let i=0;i<5;i++) f().dispose(); const t = performance.now(); const o=[]; for (let i=0;i<60;i++) o.push(f()); o[59].dataSync(); tf.dispose(o);
  console.log(fused ? 'fused  ' : 'unfused', ((performance.now()-t)/60).toFixed(2), 'ms'); }
