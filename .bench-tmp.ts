import * as tf from '@tensorflow/tfjs';
import { registerWasmTrainingKernels, setWasmFilterGradGroupBudget } from './lib/classifier/wasm-kernels';
registerWasmTrainingKernels();
const attrs = (fs: number[], s: number, p: string) => ({ strides: s, pad: p, dataFormat: 'NHWC', filterShape: fs }) as unknown as tf.NamedAttrMap;
async function bench(b: string, xs: number[], fs: number[], s: number, p: 'same'|'valid', iters: number) {
  await tf.setBackend(b);
  const x = tf.randomNormal(xs) as tf.Tensor4D;
  const info = tf.backend_util.computeConv2DInfo(xs as [number,number,number,number], fs as [number,number,number,number], s, 1, p);
  const dy = tf.randomNormal(info.outShape);
  const call = () => { const r = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs(fs, s, p)) as tf.Tensor; r.dataSync(); r.dispose(); };
  call();
  const t0 = performance.now(); for (let i = 0; i < iters; i++) call();
  const ms = (performance.now() - t0) / iters;
  const flops = 2 * fs.reduce((a, v) => a * v, 1) * info.outHeight * info.outWidth * xs[0]!;
  console.log(b, JSON.stringify(xs), JSON.stringify(fs), s, p, ms.toFixed(1), 'ms/call', (flops / ms / 1e6).toFixed(2), 'GFLOP/s');
  x.dispose(); dy.dispose();
}
async function main() {
  const mode = process.argv[2];
  if (mode === 'cpu') { await bench('cpu', [64,32,32,64], [3,3,64,64], 1, 'same', 1); return; }
  if (mode === 'budget') { for (const bgt of [1<<20, 1<<21, 1<<22, 1<<23]) { setWasmFilterGradGroupBudget(bgt); console.log('budget', bgt); await bench('wasm', [64,32,32,64], [3,3,64,64], 1, 'same', 5); } return; }
  await bench('wasm', [64,32,32,64], [3,3,64,64], 1, 'same', 10);
  await bench('wasm', [64,32,32,64], [3,3,64,128], 2, 'same', 5);
  await bench('wasm', [64,32,32,64], [1,1,64,128], 2, 'valid', 5);
  await bench('wasm', [64,32,32,3], [3,3,3,64], 1, 'same', 5);
  await bench('wasm', [16,224,224,3], [7,7,3,64], 2, 'same', 3);
  await bench('wasm', [64,8,8,256], [3,3,256,256], 1, 'same', 5);
}
main();
