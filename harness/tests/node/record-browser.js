// The dashboard page in Debian's Chromium (Playwright, as page/ runs it), loaded through the
// recording proxy and signed in with a token in the URL fragment: it connects on its own
// transports, subscribes and lists notifications; then the tab closes. Exits non-zero if the page
// does not get connected.
// Env: PROXY_URL, USER_TOKEN (user-1), CHROMIUM_PATH (default /usr/bin/chromium).
const path = require('path');
const { chromium } = require(require.resolve('@playwright/test', {
  paths: [path.join(__dirname, '../../../page')],
}));

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${process.env.PROXY_URL}/#token=${process.env.USER_TOKEN}`);
    await page.locator('#connection').filter({ hasText: /^Connected$/ }).waitFor({ timeout: 20_000 });
    await page.locator('#whoami').filter({ hasText: /\S/ }).waitFor({ timeout: 10_000 });
    // Let the page's first requests (subscriptions, the lists) finish before the tab closes.
    await page.waitForLoadState('networkidle');
    if (errors.length) throw new Error(`script errors: ${errors.join('; ')}`);
    await page.close();
  } finally {
    await browser.close();
  }
  console.log('done');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
