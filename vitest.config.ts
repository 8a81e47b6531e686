import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/setup.ts"],
    // Integration tests start their own nats-server processes; on a 2-core machine
    // running more than two files at once only adds contention and flakiness.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
  },
});
