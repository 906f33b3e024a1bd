process.env.TF_CPP_MIN_LOG_LEVEL='2';
const tf = require('@tensorflow/tfjs-node');
const B = 256, D = 28*28*3, C = 10;
const input = tf.input({ shape: [28,28,3] });
let x = tf.layers.flatten().apply(input);
for (let i = 0; i < 3; i++) x = tf.layers.dense({ units: 100, activation: 'relu' }).apply(x);
const m = tf.model({ inputs: input, outputs: tf.layers.dense({ units: C }).apply(x) });
const vars = m.trainableWeights.map(w => w.read());
const xs = tf.randomUniform([B,28,28,3]); const ys = tf.randomUniform([B],0,10,'int32');
function loss(logits) { const lp = tf.logSoftmax(logits); return tf.neg(tf.mean(tf.sum(tf.mul(lp, tf.oneHot(ys, C)), 1))); }
(async () => {
  for (let i=0;i<5;i++) tf.tidy(() => tf.variableGrads(() => loss(m.apply(xs,{training:true})), vars).value);
  const p = await tf.profile(() => tf.tidy(() => tf.variableGrads(() => loss(m.apply(xs,{training:true})), vars).value));
  const ks = p.kernels; let tot = 0;
  const agg = {};
  for (const k of ks) { const t = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0; tot += t; const key = k.name + ' ' + JSON.stringify(k.inputShapes); agg[key] = (agg[key]||0) + t; }
  console.log('kernels', ks.length, 'total ms', tot.toFixed(2));
  Object.entries(agg).sort((a,b)=>b[1]-a[1]).slice(0,15).forEach(([k,t]) => console.log(t.toFixed(3), k));
})();
