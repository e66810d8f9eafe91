// The harness's HTML report (`sio-harness run|diff --report-html`) opened in Debian's Chromium,
// apart from the dashboard's tests: it needs the harness built, not a server fixture per project.
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: 'report-tests',
  outputDir: '../target/report-tests/results',
  timeout: 180_000,
  expect: { timeout: 10_000 },
  workers: 1,
  retries: 0,
  forbidOnly: true,
  reporter: [['list']],
  use: {
    launchOptions: { executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium' },
    viewport: { width: 1100, height: 760 },
    colorScheme: 'light',
  },
});
