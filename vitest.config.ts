import { defineConfig } from 'vitest/config';

// One `vitest run` runs both projects: unit tests need nothing; integration tests share one
// control plane and one RabbitMQ started by the global setup.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Files run in parallel workers; each owns a namespace and a vhost.
          maxWorkers: 4,
        },
      },
    ],
  },
});
