import { join } from 'node:path';
import { PROJECT_ROOT } from '../../core/project-root';

export { PROJECT_ROOT };
/** What `diffubias setup` installs beyond npm: the Temporal CLI, TensorFlow's libraries, Node's headers. */
export const TOOLS_DIR = join(PROJECT_ROOT, '.diffubias', 'tools');
