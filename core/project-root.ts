import { resolve } from 'node:path';

/** The checkout (or installed package) root: where `models/demo/...` and `.diffubias/tools` live. */
export const PROJECT_ROOT = resolve(__dirname, '..');
