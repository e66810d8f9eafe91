// Browser tests of the dashboard: every test runs once against each server (the projects), in
// Debian's Chromium (chromium.config.ts).
import { defineConfig } from '@playwright/test';
import { chromiumDefaults } from './chromium.config';
import type { ServerOptions } from './tests/fixtures';

export default defineConfig<ServerOptions>({
  ...chromiumDefaults,
  testDir: 'tests',
  outputDir: '../target/page-tests/results',
  timeout: 60_000,
  projects: [
    { name: 'rust', use: { serverKind: 'rust' } },
    { name: 'node', use: { serverKind: 'node' } },
  ],
});
