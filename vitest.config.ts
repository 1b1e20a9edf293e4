import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Property tests and image builds are slower than plain unit tests.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Workers (piscina) and the native addon are exercised for real; forks keep
    // each test file's native state apart.
    pool: 'forks',
    // The JSON report lets .ci/run print "N passed, N failed" (vitest's own
    // summary is not a line CI reads).
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-report.json' },
  },
});
