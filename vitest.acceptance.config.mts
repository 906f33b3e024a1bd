import { defineConfig } from 'vitest/config';

// Opt-in (`npm run test:acceptance`): each suite runs a real model on real Colored MNIST for minutes.
export default defineConfig({
  test: {
    include: ['test/acceptance/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 30 * 60_000,
    hookTimeout: 30 * 60_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
