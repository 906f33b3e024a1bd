process.env.TF_CPP_MIN_LOG_LEVEL='2';
const tf = require('@tensorflow/tfjs-node');
const B = 256, D = 28*28*3, C = 10;
function mlp() {
  const input = tf.input({ shape: [28,28,3] });
  let x = tf.layers.flatten().apply(input);
  for (let i = 0; i < 3; i++) x = tf.layers.dense({ units: 100, activation: 'relu' }).apply(x);
  return tf.model({ inputs: input, outputs: tf.layers.dense({ units: C }).apply(x) });
}
const xsData = new Float32Array(B*D).map(() => Math.random()); const ysData = new Int32Array(B).map(() => Math.floor(Math.random()*10));
function loss(logits, ys) { const lp = tf.logSoftmax(logits); return tf.neg(tf.mean(tf.sum(tf.mul(lp, tf.oneHot(ys, C)), 1))); }
async function bench(name, stepFn, steps = 60) {
  for (let i = 0; i < 5; i++) await stepFn(true);
  const t = performance.now();
  for (let i = 0; i < steps; i++) await stepFn(i === steps - 1);
  const ms = (performance.now() - t) / steps;
  console.log(name.padEnd(40), ms.toFixed(2), 'ms/step', Math.round(B / ms * 1000), 'img/s', 'tensors', tf.memory().numTensors);
}
(async () => {
  // A: today
  { const m = mlp(); const opt = tf.train.adam(1e-3);
    await bench('A layers+adam+sync', async () => { const c = tf.tidy(() => { const xs = tf.tensor4d(xsData, [B,28,28,3]); const ys = tf.tensor1d(ysData,'int32'); return opt.minimize(() => loss(m.apply(xs, {training:true}), ys), true); }); await c.data(); c.dispose(); }); }
  // A2: no per-step sync
  { const m = mlp(); const opt = tf.train.adam(1e-3); let acc = tf.scalar(0);
    await bench('A2 layers+adam, no sync', async (last) => { const c = tf.tidy(() => { const xs = tf.tensor4d(xsData, [B,28,28,3]); const ys = tf.tensor1d(ysData,'int32'); return opt.minimize(() => loss(m.apply(xs, {training:true}), ys), true); }); const n = tf.add(acc, c); acc.dispose(); c.dispose(); acc = n; if (last) await acc.data(); }); }
  // S: sgd
  { const m = mlp(); const opt = tf.train.sgd(1e-3);
    await bench('S layers+sgd+sync', async () => { const c = tf.tidy(() => { const xs = tf.tensor4d(xsData, [B,28,28,3]); const ys = tf.tensor1d(ysData,'int32'); return opt.minimize(() => loss(m.apply(xs, {training:true}), ys), true); }); await c.data(); c.dispose(); }); }
  // F: forward only
  { const m = mlp();
    await bench('F forward+loss only', async () => { const c = tf.tidy(() => { const xs = tf.tensor4d(xsData, [B,28,28,3]); const ys = tf.tensor1d(ysData,'int32'); return loss(m.apply(xs, {training:true}), ys); }); await c.data(); c.dispose(); }); }
  // G: grads only (variableGrads)
  { const m = mlp(); const vars = m.trainableWeights.map(w => w.read());
    await bench('G layers grads only', async () => { const c = tf.tidy(() => { const xs = tf.tensor4d(xsData, [B,28,28,3]); const ys = tf.tensor1d(ysData,'int32'); const { value, grads } = tf.variableGrads(() => loss(m.apply(xs, {training:true}), ys), vars); return value; }); await c.data(); c.dispose(); }); }
  // R: raw tensors, fused matmul, variableGrads
  { const Ws = [[D,100],[100,100],[100,100],[100,C]].map(s => [tf.variable(tf.randomNormal(s, 0, 0.05)), tf.variable(tf.zeros([s[1]]))]).flat();
    const fwd = (xs) => { let h = tf.reshape(xs, [B, D]); for (let i = 0; i < 4; i++) h = tf.fused.matMul({ a: h, b: Ws[2*i], bias: Ws[2*i+1], activation: i < 3 ? 'relu' : 'linear' }); return h; };
    await bench('R raw fused grads only', async () => { const c = tf.tidy(() => { const xs = tf.tensor4d(xsData, [B,28,28,3]); const ys = tf.tensor1d(ysData,'int32'); const { value } = tf.variableGrads(() => loss(fwd(xs), ys), Ws); return value; }); await c.data(); c.dispose(); });
    const opt = tf.train.adam(1e-3);
    await bench('R2 raw fused + tfjs adam', async () => { const c = tf.tidy(() => { const xs = tf.tensor4d(xsData, [B,28,28,3]); const ys = tf.tensor1d(ysData,'int32'); return opt.minimize(() => loss(fwd(xs), ys), true, Ws); }); await c.data(); c.dispose(); });
  }
  // X: just tensor creation + sync
  await bench('X tensor4d+sum sync', async () => { const c = tf.tidy(() => tf.sum(tf.tensor4d(xsData, [B,28,28,3]))); await c.data(); c.dispose(); });
})();
