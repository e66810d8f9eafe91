// Fixtures of the browser tests: a fresh server of the project's kind per test (started on a free
// port, stopped by pid, its database removed), a screenshot of every test's last state under
// target/page-tests/, and a check that the page raised no script error, broke no
// Content-Security-Policy rule and opened no dialog.
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

  server: async ({ serverKind }, use) => {
    const server = await TestServer.create(serverKind);
    try {
      await use(server);
    } finally {
      await server.dispose();
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

export function screenshotPath(project: string, title: string): string {
  const slug = title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  return join(SCREENSHOT_DIR, `${project}-${slug}.png`);
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
