import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { extractTarPrefix, extractZipMembers, readZipText } from './archives';
import { extraRequirements, findWheel, packageDir, pipDownload, run, sha256, StepError } from './setup-steps';
import {
  TENSORFLOW_VERSION, TFJS_NODE_VERSION, WHEEL_HEADER_PREFIXES, WHEEL_LIBRARIES, WHEEL_TARGETS, type TfDevice, type WheelTarget,
} from './native-tensorflow-pins';
import { PROJECT_ROOT, TOOLS_DIR } from './paths';
import { workerSettingsFromEnv } from '../../core/settings';

/**
 * Provisions tfjs-node's native backend without its install script (which downloads libtensorflow
 * and a prebuilt binding from a host outside the package registries): the TensorFlow C library
 * comes out of PyPI's TensorFlow wheel, Node's headers out of the npm registry's node-<os>-<arch>
 * package, and the binding is compiled here with node-gyp.
 *
 * Steps: package → wheel → libraries → node headers → build → check. Each logs one line; the first
 * failure stops with one line naming the step and how to retry, and the project keeps running on
 * wasm. Everything lands in .diffubias/tools/ and the tfjs-node package folder; nothing touches the
 * user's Python.
 */

export interface NativeTfOptions {
  env?: NodeJS.ProcessEnv;
  log: (line: string) => void;
  /** Where wheels, libraries and headers go (tests point it elsewhere). */
  toolsDir?: string;
}

export interface NativeTfStatus {
  ok: boolean;
  /** Set when a step failed. */
  failedStep?: string;
  device?: TfDevice;
  /** The loaded backend's description, when ok. */
  detail?: string;
}

/** The binding's record of what it was built from; a mismatch with today's pins rebuilds it. */
export interface BindingStamp {
  tfjsNode: string;
  tensorflow: string;
  wheel: string;
  wheelSha256: string;
  device: TfDevice;
  node: string;
  nodeAbi: string;
  napi: number;
  extraWheels: string[];
}

export const BINDING_STAMP = 'diffubias-build.json';

/** DIFFUBIAS_TF_DEVICE wins; otherwise a visible NVIDIA driver means GPU. */
export function detectDevice(env: NodeJS.ProcessEnv): TfDevice {
  let forced: TfDevice | undefined;
  try {
    forced = workerSettingsFromEnv(env).tfDevice;
  } catch (err) {
    throw new StepError('device', (err as Error).message);
  }
  if (forced) return forced;
  const smi = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
  return smi.status === 0 && /GPU \d+:/.test(smi.stdout) ? 'gpu' : 'cpu';
}

/** The N-API version node-pre-gyp will look for: the package's highest one this Node supports. */
function napiVersion(pkgDir: string, pkgJson: { binary?: { napi_versions?: number[] } }): number {
  const supported = Number(process.versions.napi);
  const candidates = (pkgJson.binary?.napi_versions ?? []).filter((v) => v <= supported);
  if (candidates.length === 0) throw new StepError('package', `${pkgDir}/package.json: no N-API version this Node (${supported}) supports`);
  return Math.max(...candidates);
}

interface Extracted {
  root: string;
  wheel: string;
  wheelSha256: string;
  extraWheels: string[];
}

/** Steps wheel + libraries: fetch the pinned wheel(s), keep only the libraries and headers. */
async function provisionLibraries(toolsDir: string, device: TfDevice, target: WheelTarget, log: (l: string) => void): Promise<Extracted> {
  const root = join(toolsDir, 'tensorflow', `${TENSORFLOW_VERSION}-${device}-${process.platform}-${process.arch}`);
  const doneFile = join(root, 'EXTRACTED.json');
  if (existsSync(doneFile)) {
    const done = JSON.parse(await readFile(doneFile, 'utf8')) as Extracted;
    log(`  wheel + libraries: present (${done.wheel}) in ${relative(PROJECT_ROOT, root)}`);
    return { ...done, root };
  }
  const wheels = join(toolsDir, 'wheels');
  await mkdir(wheels, { recursive: true });
  const requirement = `${target.project}==${TENSORFLOW_VERSION}`;
  let wheel = await findWheel(wheels, target.project, TENSORFLOW_VERSION);
  if (!wheel) {
    log(`  wheel: pip download ${requirement} (${target.platforms[0]}, no dependencies) ...`);
    pipDownload('wheel', target, requirement, wheels);
    wheel = await findWheel(wheels, target.project, TENSORFLOW_VERSION);
    if (!wheel) throw new StepError('wheel', `pip reported success but no ${target.project} wheel is in ${wheels}`);
  }
  const wheelSha256 = await sha256(wheel);
  log(`  wheel: ${wheel.split('/').pop()} (sha256 ${wheelSha256.slice(0, 12)}…)`);

  await rm(root, { recursive: true, force: true });
  const started = performance.now();
  const files = await extractZipMembers(wheel, root, (name) => {
    if (WHEEL_LIBRARIES.includes(name)) return join('lib', name.split('/').pop()!);
    const inc = name.startsWith('tensorflow/include/') ? name.slice('tensorflow/include/'.length) : undefined;
    return inc !== undefined && WHEEL_HEADER_PREFIXES.some((p) => inc.startsWith(p)) ? join('include', inc) : undefined;
  }).catch((err: Error) => { throw new StepError('libraries', `${wheel}: ${err.message}`); });
  for (const lib of WHEEL_LIBRARIES) {
    if (!files.some((f) => f.endsWith(`/${lib.split('/').pop()}`))) throw new StepError('libraries', `${wheel} has no ${lib}`);
  }
  // The binding links -ltensorflow -ltensorflow_framework; the wheel names its C++ library _cc.
  await symlink('libtensorflow_cc.so.2', join(root, 'lib', 'libtensorflow.so'));
  await symlink('libtensorflow_framework.so.2', join(root, 'lib', 'libtensorflow_framework.so'));

  const extraWheels: string[] = [];
  if (target.extra) {
    const metadata = await readZipText(wheel, (n) => n.endsWith('.dist-info/METADATA'));
    const reqs = extraRequirements(metadata ?? '', target.extra);
    if (reqs.length === 0) throw new StepError('wheel', `${wheel}: METADATA lists no requirements for extra ${target.extra}`);
    for (const req of reqs) {
      const project = req.split(/[<>=!~]/)[0]!;
      log(`  wheel: pip download ${req} (for ${target.project}[${target.extra}]) ...`);
      pipDownload('wheel', target, req, wheels);
      const extra = await findWheel(wheels, project);
      if (!extra) throw new StepError('wheel', `no ${project} wheel in ${wheels} after pip download`);
      extraWheels.push(extra.split('/').pop()!);
      // The GPU libtensorflow_framework's RUNPATH holds $ORIGIN/../nvidia/<lib>/lib: keep that layout.
      await extractZipMembers(extra, root, (name) => (/^nvidia\/[^/]+\/lib\/[^/]+$/.test(name) ? name : undefined))
        .catch((err: Error) => { throw new StepError('libraries', `${extra}: ${err.message}`); });
      await rm(extra, { force: true });
    }
  }
  const record: Extracted = { root, wheel: wheel.split('/').pop()!, wheelSha256, extraWheels };
  await writeFile(doneFile, `${JSON.stringify(record, null, 2)}\n`);
  // 274 MB (CPU) to 570 MB (GPU) that the build no longer needs.
  await rm(wheel, { force: true });
  log(`  libraries: ${files.length} files from the wheel into ${relative(PROJECT_ROOT, root)} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return record;
}

/** Step node headers: the npm registry's node-<os>-<arch> package of this exact Node has include/node/. */
async function provisionNodeHeaders(toolsDir: string, log: (l: string) => void): Promise<string> {
  const version = process.versions.node;
  const dir = join(toolsDir, 'node-headers', version);
  const root = join(dir, 'package');
  if (existsSync(join(root, 'include', 'node', 'node_api.h'))) {
    log(`  node headers: present (node ${version})`);
    return root;
  }
  const pkg = `node-${process.platform}-${process.arch}@${version}`;
  log(`  node headers: npm pack ${pkg} ...`);
  await mkdir(dir, { recursive: true });
  const out = run('node headers', 'npm', ['pack', pkg, '--pack-destination', dir, '--silent'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const tgz = join(dir, out.trim().split('\n').pop()!);
  try {
    await extractTarPrefix(tgz, dir, 'package/include/');
  } catch (err) {
    throw new StepError('node headers', `${tgz}: ${(err as Error).message}`);
  } finally {
    await rm(tgz, { force: true });
  }
  if (!existsSync(join(root, 'include', 'node', 'node_api.h'))) throw new StepError('node headers', `${pkg} has no include/node/node_api.h`);
  return root;
}

function nodeGypScript(): string {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js', { paths: [PROJECT_ROOT] });
  } catch {
    throw new StepError('build', 'node-gyp is not installed: run npm install');
  }
}

/** Loads the binding in a child process (a crash there must not take setup down) and runs a gradient. */
export function checkNativeBackend(npmPackage: string, env: NodeJS.ProcessEnv = process.env): { ok: true; detail: string } | { ok: false; error: string } {
  const script = `
    const tf = require(${JSON.stringify(npmPackage)});
    if (tf.getBackend() !== 'tensorflow') throw new Error('backend is ' + tf.getBackend());
    const g = tf.grad((v) => tf.sum(tf.matMul(v, v)))(tf.tensor2d([[1, 2], [3, 4]])).dataSync();
    if (Array.from(g).join() !== '7,11,9,13') throw new Error('wrong gradient ' + Array.from(g));
    const b = tf.backend();
    process.stdout.write(JSON.stringify({ tf: b.binding.TF_Version, gpu: Boolean(b.isUsingGpuDevice) }));`;
  const result = spawnSync(process.execPath, ['-e', script], {
    cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 120_000, env: { ...env, TF_CPP_MIN_LOG_LEVEL: '2' },
  });
  if (result.status !== 0) {
    const why = (result.stderr || result.error?.message || `exit ${result.status ?? result.signal}`).trim().split('\n').filter((l) => /Error|error/.test(l))[0];
    return { ok: false, error: why ?? `exit ${result.status ?? result.signal}` };
  }
  const info = JSON.parse(result.stdout) as { tf: string; gpu: boolean };
  return { ok: true, detail: `${npmPackage} ${TFJS_NODE_VERSION} on TensorFlow ${info.tf}${info.gpu ? ' (GPU)' : ' (CPU)'}` };
}

async function readStamp(path: string): Promise<BindingStamp | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as BindingStamp;
  } catch {
    return undefined;
  }
}

function stampMatches(stamp: BindingStamp | undefined, device: TfDevice, napi: number): boolean {
  return stamp?.tfjsNode === TFJS_NODE_VERSION && stamp.tensorflow === TENSORFLOW_VERSION && stamp.device === device
    && stamp.nodeAbi === process.versions.modules && stamp.napi === napi;
}

/** Makes the native TensorFlow backend load, or says in one line which step failed. Never throws. */
export async function ensureNativeTensorflow(opts: NativeTfOptions): Promise<NativeTfStatus> {
  const env = opts.env ?? process.env;
  const log = opts.log;
  const toolsDir = opts.toolsDir ?? TOOLS_DIR;
  if (!workerSettingsFromEnv(env).nativeTf) {
    log('native TensorFlow: skipped (DIFFUBIAS_NATIVE_TF=0); the classifier runs on wasm');
    return { ok: false, failedStep: 'skipped' };
  }
  let device: TfDevice | undefined;
  try {
    device = detectDevice(env);
    const key = `${process.platform}-${process.arch}`;
    const target = WHEEL_TARGETS[key]?.[device];
    if (!target) throw new StepError('platform', `no pinned TensorFlow wheel for ${key} (${device}); provisioned: linux-x64`);
    const pkgDir = packageDir(target.npmPackage);
    const pkgJson = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as { version: string; binary?: { napi_versions?: number[] } };
    if (pkgJson.version !== TFJS_NODE_VERSION) throw new StepError('package', `${target.npmPackage} is ${pkgJson.version}; setup is pinned to ${TFJS_NODE_VERSION}`);
    const napi = napiVersion(pkgDir, pkgJson);
    const modulePath = join(pkgDir, 'lib', `napi-v${napi}`);
    const stampPath = join(modulePath, BINDING_STAMP);

    if (stampMatches(await readStamp(stampPath), device, napi)) {
      const check = checkNativeBackend(target.npmPackage, env);
      if (check.ok) {
        log(`native TensorFlow: ready (${check.detail}, node ABI ${process.versions.modules})`);
        return { ok: true, device, detail: check.detail };
      }
      log(`native TensorFlow: the built binding does not load (${check.error}); rebuilding`);
    }
    log(`native TensorFlow: provisioning ${target.npmPackage} ${TFJS_NODE_VERSION} on ${target.project} ${TENSORFLOW_VERSION} (${device})`);
    const started = performance.now();
    const libs = await provisionLibraries(toolsDir, device, target, log);
    const headers = await provisionNodeHeaders(toolsDir, log);

    // binding.gyp wants <package>/deps/{include,lib} and sets RUNPATH $ORIGIN/../../deps/lib.
    const deps = join(pkgDir, 'deps');
    await rm(deps, { recursive: true, force: true });
    await symlink(relative(pkgDir, libs.root), deps);
    log(`  build: node-gyp rebuild (N-API ${napi}, node ${process.version}) ...`);
    const buildStarted = performance.now();
    run('build', process.execPath, [nodeGypScript(), 'rebuild', `--nodedir=${headers}`, '--module_name=tfjs_binding',
      `--module_path=${modulePath}`, `--napi_build_version=${napi}`, '--loglevel=warn'], {
      cwd: pkgDir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, JOBS: '2' },
    });
    await rm(join(pkgDir, 'build'), { recursive: true, force: true });
    log(`  build: ${relative(PROJECT_ROOT, join(modulePath, 'tfjs_binding.node'))} in ${((performance.now() - buildStarted) / 1000).toFixed(1)} s`);

    const check = checkNativeBackend(target.npmPackage, env);
    if (!check.ok) throw new StepError('check', check.error);
    const stamp: BindingStamp = {
      tfjsNode: TFJS_NODE_VERSION, tensorflow: TENSORFLOW_VERSION, wheel: libs.wheel, wheelSha256: libs.wheelSha256, device,
      node: process.version, nodeAbi: process.versions.modules, napi, extraWheels: libs.extraWheels,
    };
    await writeFile(stampPath, `${JSON.stringify(stamp, null, 2)}\n`);
    log(`native TensorFlow: ready (${check.detail}) in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    return { ok: true, device, detail: check.detail };
  } catch (err) {
    const step = err instanceof StepError ? err.step : 'setup';
    log(`native TensorFlow: step "${step}" failed: ${(err as Error).message}`);
    log('  the classifier runs on wasm meanwhile; retry with `npx diffubias setup` (DIFFUBIAS_NATIVE_TF=0 skips this)');
    return { ok: false, failedStep: step, device };
  }
}
