/**
 * The one owner of onnxruntime sessions for every engine (the text-to-image pipeline, the
 * classifier's dense inference; transformers.js opens the captioner's own through the same
 * onnxruntime-node): devices, execution providers and thread settings, and the check that the CUDA
 * provider is there before a model is blamed for a machine's missing library.
 */
import * as ort from 'onnxruntime-node';
import { IDENTITY_MODEL_BASE64 } from './identity-model';

export type OnnxDevice = 'cpu' | 'cuda';

export interface SessionSettings {
  /** Default cpu. */
  device?: OnnxDevice;
  /** Threads inside one operator; default onnxruntime's (the machine's cores). */
  intraOpThreads?: number;
}

/** The machine lacks onnxruntime's CUDA provider (or a GPU): not the model's fault, so not a BadInputError. */
export class CudaProviderError extends Error {
  override readonly name = 'CudaProviderError';
  constructor(reason: string) {
    super(`the CUDA execution provider is not available to onnxruntime-node (${reason}); on a machine with an NVIDIA GPU, `
      + '`npx diffubias setup` provisions it from PyPI (README, "Install"), or run on the CPU (DIFFUBIAS_GENERATE_DEVICE / DIFFUBIAS_CAPTION_DEVICE unset)');
  }
}


let cudaChecked: Promise<void> | undefined;

/**
 * Resolves once a one-node model has run on the CUDA provider alone in this process (checked once);
 * rejects with CudaProviderError saying why it cannot.
 */
export function assertCudaProvider(): Promise<void> {
  cudaChecked ??= (async () => {
    try {
      const session = await ort.InferenceSession.create(Buffer.from(IDENTITY_MODEL_BASE64, 'base64'), { executionProviders: ['cuda'], logSeverityLevel: 4 });
      await session.run({ x: new ort.Tensor('float32', new Float32Array([1, 2]), [2]) });
      await session.release();
    } catch (err) {
      throw new CudaProviderError(firstLine(err));
    }
  })();
  return cudaChecked;
}

/**
 * Opens a session on the device asked for. On cuda the provider is checked first, so that a load
 * error afterwards is the model's. The cpu provider stays behind cuda for the operators CUDA lacks.
 */
export async function openSession(model: string | Uint8Array, settings: SessionSettings = {}): Promise<ort.InferenceSession> {
  const device = settings.device ?? 'cpu';
  if (device === 'cuda') await assertCudaProvider();
  return ort.InferenceSession.create(model as string, {
    executionProviders: device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    graphOptimizationLevel: 'all',
    ...(settings.intraOpThreads ? { intraOpNumThreads: settings.intraOpThreads } : {}),
    interOpNumThreads: 1,
    logSeverityLevel: 3,
  });
}

export function firstLine(err: unknown): string {
  // onnxruntime's messages carry its log decoration and the source line: keep the reason.
  const text = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
  return text.replace(/^.*?FAIL : /, '');
}
