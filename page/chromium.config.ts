// What both Playwright configs share: Debian's Chromium (Playwright's own browser download cannot
// be reached from CI), one test at a time, no retries, a light 1100x760 page.
import type { PlaywrightTestConfig } from '@playwright/test';

export const chromiumDefaults = {
  expect: { timeout: 10_000 },
  // One at a time: a test's timing should not depend on a neighbour's load.
  workers: 1,
  retries: 0,
  forbidOnly: true,
  reporter: [['list']],
  use: {
    launchOptions: { executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium' },
    viewport: { width: 1100, height: 760 },
    colorScheme: 'light',
  },
} satisfies PlaywrightTestConfig;
