/**
 * What the setup steps share: a step's error, running a command, and fetching wheels from PyPI
 * with pip into a folder of this project's (never the user's Python environment).
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PROJECT_ROOT } from './paths';

/** Where wheels are fetched for: pip download's platform, Python and ABI tags. */
export interface WheelTags {
  /** pip download's --platform tags, most specific first. */
  platforms: readonly string[];
  pythonVersion: string;
  abi: string;
}

export class StepError extends Error {
  constructor(readonly step: string, message: string) {
    super(message);
  }
}

export function run(step: string, command: string, args: string[], options: SpawnSyncOptions = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (result.error) throw new StepError(step, `${command}: ${result.error.message}`);
  if (result.status !== 0) {
    const tail = `${result.stderr ?? ''}${result.stdout ?? ''}`.trim().split('\n').slice(-6).join(' | ');
    throw new StepError(step, `${command} ${args.slice(0, 3).join(' ')} … exited with ${result.status}: ${tail}`);
  }
  return String(result.stdout ?? '');
}

export function packageDir(name: string): string {
  try {
    return dirname(require.resolve(`${name}/package.json`, { paths: [PROJECT_ROOT] }));
  } catch {
    throw new StepError('package', `${name} is not installed: run npm install (an npm that ignores package.json ` +
      '"allowScripts" runs its download script, which fails offline, and drops it)');
  }
}

export async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function pipDownload(step: string, target: WheelTags, requirement: string, dest: string): string {
  const platforms = target.platforms.flatMap((p) => ['--platform', p]);
  const args = ['-m', 'pip', 'download', '--disable-pip-version-check', '--no-deps', '--only-binary=:all:', ...platforms,
    '--python-version', target.pythonVersion, '--implementation', 'cp', '--abi', target.abi, '--abi', 'none', '--abi', 'abi3',
    '-d', dest, requirement];
  const errors: string[] = [];
  for (const python of ['python3', 'python']) {
    try {
      return run(step, python, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  throw new StepError(step, `pip download ${requirement} failed: ${errors.join('; ')}`);
}

export async function findWheel(dir: string, project: string, version?: string): Promise<string | undefined> {
  const prefix = `${project.replace(/-/g, '_')}-${version ?? ''}`;
  const names = existsSync(dir) ? await readdir(dir) : [];
  const name = names.find((n) => n.endsWith('.whl') && n.toLowerCase().startsWith(prefix.toLowerCase()));
  return name && join(dir, name);
}

/** The `extra == "<name>"` requirements of a wheel's METADATA (the CUDA wheels of tensorflow[and-cuda]). */
export function extraRequirements(metadata: string, extra: string): string[] {
  return metadata.split('\n')
    .filter((l) => l.startsWith('Requires-Dist:') && new RegExp(`extra\\s*==\\s*["']${extra}["']`).test(l))
    .map((l) => l.slice('Requires-Dist:'.length).split(';')[0]!.replace(/[()\s]/g, ''));
}
