import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { notFoundByLdd, nvidiaRequirements } from '../../cli/setup/onnxruntime-cuda';
import { extraRequirements } from '../../cli/setup/setup-steps';

// onnxruntime-gpu 1.30.0's METADATA and nvidia-cudnn-cu13's, cut to the lines that matter.
const ORT_GPU_METADATA = `Metadata-Version: 2.1
Name: onnxruntime-gpu
Requires-Dist: flatbuffers
Requires-Dist: numpy>=1.21.6
Provides-Extra: cuda
Requires-Dist: nvidia-cuda-nvrtc~=13.0; extra == "cuda"
Requires-Dist: nvidia-cuda-runtime~=13.0; extra == "cuda"
Provides-Extra: cudnn
Requires-Dist: nvidia-cudnn-cu13~=9.0; extra == "cudnn"
`;
const CUDNN_METADATA = `Name: nvidia-cudnn-cu13
Requires-Dist: nvidia-cublas
Requires-Dist: nvidia-nvjitlink
Requires-Dist: numpy; extra == "test"
`;

describe("onnxruntime's CUDA provider from PyPI", () => {
  it("takes the extras' wheels, then the nvidia-* wheels those need", () => {
    expect(['cuda', 'cudnn'].flatMap((e) => extraRequirements(ORT_GPU_METADATA, e))).toEqual(['nvidia-cuda-nvrtc~=13.0', 'nvidia-cuda-runtime~=13.0', 'nvidia-cudnn-cu13~=9.0']);
    expect(nvidiaRequirements(CUDNN_METADATA)).toEqual(['nvidia-cublas', 'nvidia-nvjitlink']);
    expect(nvidiaRequirements(ORT_GPU_METADATA)).toEqual([]);
  });

  it("names the libraries provisioning failed to bring, not the driver's", () => {
    const ldd = `\tlinux-vdso.so.1 (0x00007efeaa195000)
\tlibcublasLt.so.13 => not found
\tlibcurand.so.10 => /x/lib/libcurand.so.10 (0x00007f)
\tlibcuda.so.1 => not found
\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007efeaa17c000)`;
    expect(notFoundByLdd(ldd)).toEqual(['libcublasLt.so.13']);
  });
});

describe('scripts/gpu-check.sh on a machine without a GPU', () => {
  const script = join(__dirname, '..', '..', 'scripts', 'gpu-check.sh');
  const run = (path: string) => spawnSync('bash', [script], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, PATH: path } });

  it('says so and exits 2 at once, where nvidia-smi is missing or lists no GPU', () => {
    const started = Date.now();
    const missing = run('/usr/bin:/bin');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('no NVIDIA GPU here (nvidia-smi not found): nothing was checked');
    const bin = mkdtempSync(join(tmpdir(), 'fake-smi-'));
    writeFileSync(join(bin, 'nvidia-smi'), '#!/bin/sh\necho "No devices were found"\nexit 6\n');
    chmodSync(join(bin, 'nvidia-smi'), 0o755);
    const none = run(`${bin}:/usr/bin:/bin`);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('nvidia-smi lists none: No devices were found');
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
