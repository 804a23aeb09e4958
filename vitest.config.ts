import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The oracle and robustness suites walk hundreds of files and a million frames: give them room,
    // but never let a hang go unnoticed.
    testTimeout: 600_000,
    hookTimeout: 120_000,
    // Live-capture tests create network namespaces; run files one at a time so they never race.
    fileParallelism: false,
    reporters: ['default'],
  },
});
