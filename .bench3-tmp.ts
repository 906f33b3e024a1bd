import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from './lib/classifier/wasm-kernels';
registerWasmTrainingKernels();
function viaConv(x: tf.Tensor4D, dy: tf.Tensor4D, fh: number, fw: number, s: number, pads: [number, number, number, number]) {
  return tf.tidy(() => {
    const xT = tf.transpose(x, [3, 1, 2, 0]);      // [Cin, H, W, N]
    const dyT = tf.transpose(dy, [1, 2, 0, 3]);    // [OH, OW, N, Cout]
    const out = tf.conv2d(xT, dyT, 1, [[0,0],[pads[0],pads[1]],[pads[2],pads[3]],[0,0]], 'NHWC', s); // [Cin, fh', fw', Cout]
    const cropped = out.slice([0,0,0,0],[-1, fh, fw, -1]);
    return tf.transpose(cropped, [1, 2, 0, 3]);
  });
}
async function main() {
  await tf.setBackend('wasm');
  for (const [xs, fs, s] of [[[64,32,32,64],[3,3,64,64],1],[[64,32,32,64],[3,3,64,128],2],[[64,32,32,64],[1,1,64,128],2],[[16,112,112,3],[7,7,3,64],2]] as const) {
    const x = tf.randomNormal(xs as unknown as number[]) as tf.Tensor4D;
    const info = tf.backend_util.computeConv2DInfo(xs as unknown as [number,number,number,number], fs as unknown as [number,number,number,number], s, 1, fs[0] === 1 ? 'valid' : 'same');
    const dy = tf.randomNormal(info.outShape) as tf.Tensor4D;
    const p = info.padInfo; const pads: [number,number,number,number] = [p.top, p.bottom, p.left, p.right];
    const ref = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: s, pad: fs[0] === 1 ? 'valid' : 'same', dataFormat: 'NHWC', filterShape: fs }) as tf.Tensor;
    const alt = viaConv(x, dy, fs[0], fs[1], s, pads);
    const diff = tf.max(tf.abs(tf.sub(ref, alt))).dataSync()[0]; const mag = tf.max(tf.abs(ref)).dataSync()[0];
    const time = (f: () => tf.Tensor) => { let r = f(); r.dataSync(); r.dispose(); const t0 = performance.now(); for (let i = 0; i < 3; i++) { r = f(); r.dataSync(); r.dispose(); } return ((performance.now() - t0) / 3).toFixed(0); };
    console.log(xs, fs, s, 'diff', diff, 'mag', mag, 'im2col', time(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: s, pad: fs[0] === 1 ? 'valid' : 'same', dataFormat: 'NHWC', filterShape: fs }) as tf.Tensor), 'ms  viaConv', time(() => viaConv(x, dy, fs[0], fs[1], s, pads)), 'ms');
  }
}
main();
