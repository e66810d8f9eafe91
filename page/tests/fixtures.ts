// Fixtures of the browser tests: a fresh server of the project's kind per test (started on a free
// port, stopped by pid, its database removed, its log kept under target/page-tests/servers/, where
// the Node original's must say that its shutdown ended without its backstop), a screenshot of
// every test's last state under target/page-tests/, and a check that the page raised no script
// error, broke no Content-Security-Policy rule and opened no dialog.
import { test as base, expect, type Page } from '@playwright/test';
import { mkdirSync } from 'fs';
import { join, resolve } from 'path';
import { TestServer, type Kind } from '../../node-original/test/servers';

export const SCREENSHOT_DIR = resolve(__dirname, '../../target/page-tests');

export interface ServerOptions {
  serverKind: Kind;
}

interface Fixtures {
  server: TestServer;
  /** Opens the dashboard signed in as `userId` through a sign-in link, and waits until it is live. */
  signIn: (userId: string) => Promise<void>;
  pageProblems: void;
}

export const test = base.extend<Fixtures, ServerOptions>({
  serverKind: ['rust', { option: true, scope: 'worker' }],

  server: async ({ serverKind }, use, testInfo) => {
    const repeat = testInfo.repeatEachIndex ? `-${testInfo.repeatEachIndex}` : '';
    const logPath = join(SCREENSHOT_DIR, 'servers', `${testInfo.project.name}-${slug(testInfo.title)}${repeat}.log`);
    const server = await TestServer.create(serverKind, { logPath });
    try {
      await use(server);
    } finally {
      await server.dispose();
    }
    if (serverKind === 'node') {
      // A shutdown that needed its backstop is a hang that was cut, not a pass (issue 26); the
      // log names the connections it cut.
      const log = server.output();
      expect(log, `the Node original's shutdown, ${logPath}`).toContain('"boundReached":false');
      expect(log, `the Node original's shutdown, ${logPath}`).not.toMatch(/shutdown bound|"boundReached":true/);
    }
  },

  signIn: async ({ page, server }, use) => {
    await use(async (userId) => {
      await page.goto(`${server.url}/#token=${server.token(userId)}`);
      await expect(page.locator('#connection')).toHaveText('Connected');
      await expect(page.locator('#whoami')).not.toBeEmpty();
    });
  },

  pageProblems: [
    // Depends on `server` so that the closing screenshot is taken before the server stops.
    async ({ page, server: _running }, use, testInfo) => {
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(`script error: ${error.message}`));
      page.on('console', (message) => {
        if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) {
          problems.push(`CSP violation: ${message.text()}`);
        }
      });
      page.on('dialog', (dialog) => {
        problems.push(`dialog opened: ${dialog.message()}`);
        void dialog.dismiss();
      });
      await use();
      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      await page.screenshot({ path: screenshotPath(testInfo.project.name, testInfo.title), fullPage: true });
      expect(problems).toEqual([]);
    },
    { auto: true },
  ],
});

function slug(title: string): string {
  return title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

export function screenshotPath(project: string, title: string): string {
  return join(SCREENSHOT_DIR, `${project}-${slug(title)}.png`);
}

/** An HTTP API call as another backend would make it; fails the test unless it succeeds. */
export async function callApi(
  server: TestServer,
  method: 'PUT' | 'POST',
  path: string,
  body: unknown,
  userId = 'admin-1',
): Promise<unknown> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${server.token(userId)}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer: unknown = await response.json();
  expect(response.ok, `${method} ${path}: ${JSON.stringify(answer)}`).toBe(true);
  return answer;
}

export async function sessionToken(page: Page): Promise<string | null> {
  return page.evaluate(() => sessionStorage.getItem('dashboard.token'));
}

export { expect };
