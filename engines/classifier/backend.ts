import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
// Registers the wasm backend's factory; it is only instantiated by setBackend('wasm').
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from './wasm-kernels';
import { workerSettingsFromEnv } from '../../core/settings';

/** What computed a result: stored beside every training output and benchmark line. */
export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

const NATIVE_PACKAGES = [
  { pkg: '@tensorflow/tfjs-node-gpu', gpu: true },
  { pkg: '@tensorflow/tfjs-node', gpu: false },
] as const;

let chosen: Promise<BackendName> | undefined;

/** The backend this process settled on, if initBackend has run. */
export function chosenBackend(): Promise<BackendName> | undefined {
  return chosen;
}

/**
 * Whether a package's binding was built (`diffubias setup`): requiring one without it would still
 * register its kernels under 'tensorflow' and make the next package's registration warn twice over.
 */
function hasBinding(pkg: string): boolean {
  try {
    const lib = join(dirname(require.resolve(`${pkg}/package.json`)), 'lib');
    return readdirSync(lib).some((d) => d.startsWith('napi-v') && existsSync(join(lib, d, 'tfjs_binding.node')));
  } catch {
    return false;
  }
}

/**
 * tfjs-node 4.22 calls `util.isNullOrUndefined` and `util.isArray` from Node's `util`, deprecated
 * since Node 4 and removed in Node 23: on Node 24 every op with attributes throws "isNullOrUndefined
 * is not a function" (and Node 22 warns on each first use). Set the two predicates (their
 * documented meaning) before it loads.
 */
function restoreNodeUtilPredicates(): void {
  const util = require('node:util') as Record<string, unknown>;
  util.isNullOrUndefined = (value: unknown) => value === null || value === undefined;
  util.isArray = Array.isArray;
}

function nativeUsesGpu(): boolean {
  return Boolean((tf.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice);
}

/**
 * Picks the fastest tfjs backend this machine has, once per process: the native TensorFlow binding
 * (`diffubias setup` builds it from PyPI's wheels; GPU first), then wasm, then cpu.
 * DIFFUBIAS_TF_BACKEND=tensorflow-gpu|tensorflow|wasm|cpu forces one and fails if it cannot load.
 */
export function initBackend(log: (line: string) => void = () => {}, forced: string | undefined = workerSettingsFromEnv().tfBackend): Promise<BackendName> {
  chosen ??= choose(log, forced || undefined);
  return chosen;
}

async function choose(log: (line: string) => void, forced: string | undefined): Promise<BackendName> {
  if (forced && !(BACKEND_NAMES as readonly string[]).includes(forced)) {
    throw new Error(`DIFFUBIAS_TF_BACKEND=${forced}: expected one of ${BACKEND_NAMES.join(', ')}`);
  }
  // TensorFlow's C++ runtime logs its CPU features and oneDNN notes at INFO on load.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  const tried: string[] = [];
  if (!forced || forced.startsWith('tensorflow')) {
    for (const { pkg, gpu } of NATIVE_PACKAGES) {
      if (forced === 'tensorflow' && gpu) continue;
      if (!hasBinding(pkg)) {
        tried.push(`${pkg}: no binding built`);
        continue;
      }
      try {
        restoreNodeUtilPredicates();
        require(pkg);
        if (await tf.setBackend('tensorflow')) {
          const name: BackendName = gpu && nativeUsesGpu() ? 'tensorflow-gpu' : 'tensorflow';
          if (forced === 'tensorflow-gpu' && name !== 'tensorflow-gpu') throw new Error('loaded, but TensorFlow sees no GPU');
          log(`tfjs backend: ${name} (${pkg})`);
          return name;
        }
      } catch (err) {
        tried.push(`${pkg}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    if (forced) throw new Error(`DIFFUBIAS_TF_BACKEND=${forced}, but it does not load (${tried.join('; ')}); run \`npx diffubias setup\``);
  }
  if (!forced || forced === 'wasm') {
    try {
      registerWasmTrainingKernels();
      if (await tf.setBackend('wasm')) {
        log(`tfjs backend: wasm${tried.length ? ` (native unavailable: ${tried.join('; ')})` : ''}`);
        return 'wasm';
      }
    } catch (err) {
      if (forced) throw err;
      tried.push(`wasm: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  await tf.setBackend('cpu');
  log(`tfjs backend: cpu${tried.length ? ` (others unavailable: ${tried.join('; ')})` : ''}`);
  return 'cpu';
}
