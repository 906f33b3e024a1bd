#!/usr/bin/env node
// The CLI is TypeScript run through tsx's require hook, so there is no build step between
// `npm install` and `npx diffubias`. Temporal bundles workflow code itself (webpack + swc).
require('tsx/cjs');
require('../cli/main.ts');
