import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/classifier/backend';
import { HostAdam } from '../lib/classifier/host-adam';
import { FlatAdam } from '../lib/classifier/flat-adam';
(async () => {
  await initBackend();
  const shapes = [[2352,100],[100],[100,100],[100],[100,100],[100],[100,10],[10]];
  const vars = shapes.map(s => tf.variable(tf.randomNormal(s)));
  const grads = shapes.map(s => tf.randomNormal(s));
  for (const [name, O] of [['host', HostAdam], ['flat', FlatAdam]] as const) {
    const o = new O(vars, 1e-3);
    for (let i = 0; i < 5; i++) o.applyGradients(grads);
    let t = performance.now(); for (let i = 0; i < 50; i++) o.applyGradients(grads); await vars[0]!.data();
    console.log(name, ((performance.now() - t) / 50).toFixed(2), 'ms');
  }
  let t = performance.now(); for (let i = 0; i < 50; i++) { for (const g of grads) g.dataSync(); } console.log('dataSync grads', ((performance.now() - t) / 50).toFixed(2));
  t = performance.now(); for (let i = 0; i < 50; i++) { for (const v of vars) v.dataSync(); } console.log('dataSync vars', ((performance.now() - t) / 50).toFixed(2));
  const buf = new Float32Array(235200);
  t = performance.now(); for (let i = 0; i < 50; i++) { tf.tensor(buf, [2352, 100]).dispose(); } console.log('tensor create big', ((performance.now() - t) / 50).toFixed(2));
})();
