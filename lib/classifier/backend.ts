import * as tf from '@tensorflow/tfjs';
// Registers the wasm backend's factory; it is only instantiated by setBackend('wasm').
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from './wasm-kernels';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

let chosen: Promise<string> | undefined;

/**
 * Picks the fastest tfjs backend this machine has, once per process: tfjs-node-gpu, tfjs-node (both
 * optional: they need libtensorflow, downloaded at install time), then wasm, then cpu.
 * DIFFUBIAS_TF_BACKEND=wasm|cpu|tensorflow forces one (tests use cpu for bit-exact determinism).
 */
export function initBackend(log: (line: string) => void = () => {}, forced = process.env.DIFFUBIAS_TF_BACKEND): Promise<string> {
  chosen ??= choose(log, forced);
  return chosen;
}

async function choose(log: (line: string) => void, forced: string | undefined): Promise<string> {
  const tried: string[] = [];
  if (!forced || forced === 'tensorflow') {
    for (const pkg of NATIVE_PACKAGES) {
      try {
        require(pkg);
        if (await tf.setBackend('tensorflow')) {
          log(`tfjs backend: tensorflow (${pkg})`);
          return 'tensorflow';
        }
      } catch (err) {
        tried.push(`${pkg}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  }
  if (!forced || forced === 'wasm') {
    try {
      registerWasmTrainingKernels();
      if (await tf.setBackend('wasm')) {
        log(`tfjs backend: wasm${tried.length ? ` (native unavailable: ${tried.join('; ')})` : ''}`);
        return 'wasm';
      }
    } catch (err) {
      tried.push(`wasm: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  await tf.setBackend('cpu');
  log(`tfjs backend: cpu${tried.length ? ` (others unavailable: ${tried.join('; ')})` : ''}`);
  return 'cpu';
}
