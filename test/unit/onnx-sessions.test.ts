import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../../core/errors';
import { Captioner } from '../../engines/captioner/captioner';
import { Text2Image } from '../../engines/diffusion/pipeline';
import { assertCudaProvider, CudaProviderError, openSession } from '../../engines/onnx/sessions';

const FIXTURES = join(__dirname, '..', 'fixtures');

/** Where CUDA cannot run (no provider, or no GPU: every CI machine), loading on cuda must say that, not blame the model. */
async function onCuda<T>(load: () => Promise<T>): Promise<'loaded' | CudaProviderError> {
  try {
    await load();
    return 'loaded';
  } catch (err) {
    if (err instanceof CudaProviderError) return err;
    throw err;
  }
}

describe('onnxruntime sessions', () => {
  it('cuda without a usable CUDA provider is the machine\'s failure, said once, for every engine', async () => {
    const provider = await assertCudaProvider().then(() => 'available' as const, (err: unknown) => err);
    if (provider === 'available') return; // a GPU machine with the provider: gpu-check.sh covers it
    expect(provider).toBeInstanceOf(CudaProviderError);
    expect((provider as Error).message).toMatch(/^the CUDA execution provider is not available to onnxruntime-node \(.+\); on a machine with an NVIDIA GPU, `npx diffubias setup` provisions it/);
    const generator = await onCuda(() => Text2Image.create(join(FIXTURES, 'tiny-sd'), { device: 'cuda' }));
    expect(generator).toBeInstanceOf(CudaProviderError);
    expect(generator).not.toBeInstanceOf(BadInputError);
    expect(await onCuda(() => Captioner.load(join(FIXTURES, 'tiny-captioner'), { device: 'cuda' }))).toBeInstanceOf(CudaProviderError);
    // The same models load on the CPU.
    await expect(openSession(join(FIXTURES, 'tiny-sd', 'unet', 'model.onnx'))).resolves.toBeDefined();
  });
});
