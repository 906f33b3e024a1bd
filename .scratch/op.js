process.env.TF_CPP_MIN_LOG_LEVEL='2';
const tf = require('@tensorflow/tfjs-node');
const t = tf.randomNormal([256,100]); const tiny = tf.scalar(1);
const be = tf.backend();
function time(name, f, n = 2000) { for (let i=0;i<50;i++) f(); const t0 = performance.now(); for (let i=0;i<n;i++) f(); console.log(name.padEnd(34), ((performance.now()-t0)/n*1000).toFixed(1), 'us'); }
time('tf.add tiny (tidy)', () => tf.tidy(() => tf.add(tiny, tiny)));
time('tf.add tiny', () => tf.add(tiny, tiny).dispose());
time('tf.add 25k', () => tf.add(t, t).dispose());
const binding = be.binding;
const h = be.handle ?? null;
console.log(Object.keys(binding).slice(0,40).join(' '));
const info = be.tensorMap.get(tiny.dataId);
console.log(Object.keys(info));
const attrs = [{ name: 'T', type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT }];
const id = be.getInputTensorIds([tiny, tiny]);
time('binding.executeOp Add tiny', () => { const out = binding.executeOp('AddV2', attrs, id, 1); binding.deleteTensor(out[0].id); });
const id2 = be.getInputTensorIds([t, t]);
time('binding.executeOp Add 25k', () => { const out = binding.executeOp('AddV2', attrs, id2, 1); binding.deleteTensor(out[0].id); });
