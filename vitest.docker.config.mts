import { defineConfig } from 'vitest/config';

// Opt-in (`npm run test:docker`): docker/compose.local.yaml's cluster, broken while experiments run
// (docs/docker.md). Needs root, a Docker engine and the images; one case at a time, minutes each.
export default defineConfig({
  test: {
    include: ['test/docker/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 30 * 60_000,
    hookTimeout: 15 * 60_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
