// Browser tests of the dashboard: every test runs once against each server (the projects), in
// Debian's Chromium (Playwright's own browser download cannot be reached from CI).
import { defineConfig } from '@playwright/test';
import type { ServerOptions } from './tests/fixtures';

export default defineConfig<ServerOptions>({
  testDir: 'tests',
  outputDir: '../target/page-tests/results',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  // One at a time: the restart test's timing should not depend on a neighbour's load.
  workers: 1,
  retries: 0,
  forbidOnly: true,
  reporter: [['list']],
  use: {
    launchOptions: { executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium' },
    viewport: { width: 1100, height: 760 },
    colorScheme: 'light',
  },
  projects: [
    { name: 'rust', use: { serverKind: 'rust' } },
    { name: 'node', use: { serverKind: 'node' } },
  ],
});
