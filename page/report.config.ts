// The harness's HTML report (`sio-harness run|diff --report-html`) opened in Debian's Chromium,
// apart from the dashboard's tests: it needs the harness built, not a server fixture per project.
import { defineConfig } from '@playwright/test';
import { chromiumDefaults } from './chromium.config';

export default defineConfig({
  ...chromiumDefaults,
  testDir: 'report-tests',
  outputDir: '../target/report-tests/results',
  timeout: 180_000,
});
