import { join, resolve } from 'node:path';

export const PROJECT_ROOT = resolve(__dirname, '..', '..');
/** What `diffubias setup` installs beyond npm: the Temporal CLI, TensorFlow's libraries, Node's headers. */
export const TOOLS_DIR = join(PROJECT_ROOT, '.diffubias', 'tools');
