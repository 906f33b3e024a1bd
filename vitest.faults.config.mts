import { defineConfig } from 'vitest/config';

// Opt-in (`npm run test:faults`): starts the local cluster (docs/cluster.md) and breaks its parts
// while experiments run. Minutes per case; one case at a time.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 30 * 60_000,
    hookTimeout: 15 * 60_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
