// The dashboard as its users use it, in Chromium, against the project's server (Rust or Node).
import { copyFileSync } from 'fs';
import { resolve } from 'path';
import { callApi, expect, screenshotPath, sessionToken, test } from './fixtures';

/** The header both servers must send with the page; the same text as in server/src/page.rs. */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

test('a sign-in link shows the services of status:current, live', async ({ page, server }) => {
  const token = server.token('user-1');
  const response = await page.goto(`${server.url}/#token=${token}`);
  expect(response?.headers()['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);

  await expect(page.locator('#connection')).toHaveText('Connected');
  await expect(page.locator('#whoami')).toHaveText('alice@example.com (user)');
  const rows = page.locator('#services tr');
  await expect(rows.locator('th')).toHaveText(['jellyfin', 'plex', 'sonarr']);
  await expect(rows.locator('.status')).toHaveText(['up', 'up', 'degraded']);
  await expect(page.locator('tr[data-service="sonarr"]')).toContainText('830 ms');
  await expect(page.locator('tr[data-service="sonarr"]')).toContainText('97.25 %');
  await expect(page.locator('tr[data-service="sonarr"] time')).toHaveAttribute('datetime', '2026-01-01T00:00:00.000Z');
  await expect(page.locator('tr[data-service="sonarr"] time')).toHaveText(/ago$/);

  // The token left the address bar and lives in sessionStorage only.
  expect(page.url()).toBe(`${server.url}/`);
  expect(await sessionToken(page)).toBe(token);
});

test('signing out forgets the token; the form signs in by keyboard', async ({ page, server }) => {
  await page.goto(`${server.url}/#token=${server.token('user-1')}`);
  await expect(page.locator('#connection')).toHaveText('Connected');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  expect(await sessionToken(page)).toBeNull();
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();

  await page.getByLabel('Access token').focus();
  await page.keyboard.insertText(server.token('admin-1'));
  await page.keyboard.press('Tab');
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.locator('#connection')).toHaveText('Connected');
  await expect(page.locator('#whoami')).toHaveText('admin@example.com (admin)');
});

test('a status recorded over HTTP turns its row within a second, without a reload', async ({
  page,
  server,
  signIn,
}) => {
  await signIn('user-1');
  await expect(page.locator('tr[data-service="plex"] .status')).toHaveText('up');
  await page.evaluate(() => Object.assign(window, { sameDocument: true }));

  await callApi(server, 'PUT', '/api/v1/status/plex', { status: 'down', responseTime: 1200 });
  const plex = page.locator('tr[data-service="plex"] .status');
  await expect(plex).toHaveAttribute('data-status', 'down', { timeout: 1000 });
  await expect(plex).toHaveText('down');
  await expect(page.locator('tr[data-service="plex"] time')).toHaveText('just now');
  // The measurements, which service:status does not carry, follow.
  await expect(page.locator('tr[data-service="plex"]')).toContainText('1200 ms');
  expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
});

test('a pushed notification raises the unread count; marking it read survives a reload', async ({
  page,
  server,
  signIn,
}) => {
  await signIn('user-1');
  const unread = page.locator('#unread');
  await expect(unread).toHaveText('2 unread');
  await expect(page.locator('#notifications h3')).toHaveText(['Disk almost full', 'Download finished']);

  await callApi(server, 'POST', '/api/v1/notifications', {
    userId: 'user-1',
    title: 'Backup finished',
    message: 'All 3 libraries were saved.',
    type: 'success',
  });
  const pushed = page.locator('#notifications li').first();
  await expect(pushed.locator('h3')).toHaveText('Backup finished');
  await expect(pushed).toHaveAttribute('data-read', 'false');
  await expect(unread).toHaveText('3 unread');
  await expect(page).toHaveTitle('(3) Home media dashboard');

  await pushed.getByRole('button', { name: 'Mark "Backup finished" as read' }).click();
  await expect(pushed).toHaveAttribute('data-read', 'true');
  await expect(unread).toHaveText('2 unread');

  await page.reload();
  await expect(page.locator('#connection')).toHaveText('Connected');
  const reloaded = page.locator('#notifications li').first();
  await expect(reloaded.locator('h3')).toHaveText('Backup finished');
  await expect(reloaded).toHaveAttribute('data-read', 'true');
  await expect(reloaded.getByRole('button')).toHaveCount(0);
  await expect(unread).toHaveText('2 unread');
});

test('notification content is shown as text, never as markup', async ({ page, server, signIn }) => {
  await signIn('user-1');
  const title = '<img src=x onerror=alert(1)>';
  const message = '<script>alert(2)</script><b>not bold</b>';
  await callApi(server, 'POST', '/api/v1/notifications', { userId: 'user-1', title, message });
  const pushed = page.locator('#notifications li').first();
  await expect(pushed.locator('h3')).toHaveText(title);
  await expect(pushed.locator('p').first()).toHaveText(message);
  await expect(page.locator('#notifications img, #notifications script, #notifications b')).toHaveCount(0);

  // Read back from the HTTP API after a reload: the same text, still inert.
  await page.reload();
  await expect(page.locator('#notifications li').first().locator('h3')).toHaveText(title);
  await expect(page.locator('#notifications img, #notifications script, #notifications b')).toHaveCount(0);
});

test('only an admin sees the refresh button, and a refresh shows status:refreshing', async ({ page, signIn }) => {
  await signIn('user-1');
  await expect(page.locator('#whoami')).toHaveText('alice@example.com (user)');
  await expect(page.getByRole('button', { name: 'Refresh status' })).toHaveCount(0);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn('admin-1');
  const refresh = page.getByRole('button', { name: 'Refresh status' });
  await expect(refresh).toBeVisible();
  await refresh.click();
  await expect(page.locator('#status-note')).toHaveText(/^Status refresh requested at /);
});

test('a server restart shows reconnecting, then the page is live again', async ({ page, server, signIn }) => {
  await signIn('user-1');
  const connection = page.locator('#connection');

  await server.stop();
  await expect(connection).toHaveText(/^Reconnecting \(attempt \d+\)…$/);
  await expect(connection).toHaveAttribute('data-state', 'reconnecting');
  await server.start();
  await expect(connection).toHaveText('Connected', { timeout: 30_000 });

  // Subscribed again: a later change still lands.
  await callApi(server, 'PUT', '/api/v1/status/sonarr', { status: 'up' });
  await expect(page.locator('tr[data-service="sonarr"] .status')).toHaveAttribute('data-status', 'up');
});

test("a refused token shows the server's message", async ({ page, server }) => {
  await page.goto(`${server.url}/#token=${server.token('user-3')}`);
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await expect(page.locator('#sign-in-error')).toHaveText('Sign-in refused: User not found or inactive');
  expect(await sessionToken(page)).toBeNull();

  await page.getByLabel('Access token').fill('not-a-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('#sign-in-error')).toHaveText('Sign-in refused: Authentication failed');
  await expect(page.locator('#dashboard')).toBeHidden();
});

test('the dashboard as a person sees it (README screenshot)', async ({ page, server, signIn }, testInfo) => {
  await signIn('admin-1');
  await callApi(server, 'PUT', '/api/v1/status/jellyfin', { status: 'up', responseTime: 38, uptime: 99.9 });
  await callApi(server, 'PUT', '/api/v1/status/plex', { status: 'down', uptime: 98.1 });
  await callApi(server, 'PUT', '/api/v1/status/sonarr', { status: 'degraded', responseTime: 912, uptime: 97.3 });
  for (const [title, message, type] of [
    ['Library scan finished', '214 new episodes were added to TV Shows.', 'info'],
    ['Plex is down', 'No answer from plex for 3 minutes.', 'error'],
    ['Disk almost full', 'Media volume at 91%.', 'warning'],
  ]) {
    await callApi(server, 'POST', '/api/v1/notifications', { userId: 'admin-1', title, message, type });
  }
  await page.locator('#notifications li').filter({ hasText: 'Library scan finished' }).getByRole('button').click();
  await expect(page.locator('#unread')).toHaveText('2 unread');
  await page.getByRole('button', { name: 'Refresh status' }).click();
  await expect(page.locator('#status-note')).not.toBeEmpty();
  await expect(page.locator('tr[data-service="plex"] .status')).toHaveText('down');

  const shot = screenshotPath(testInfo.project.name, testInfo.title);
  await page.screenshot({ path: shot, fullPage: true });
  if (process.env.UPDATE_README_SCREENSHOT === '1' && testInfo.project.name === 'rust') {
    copyFileSync(shot, resolve(__dirname, '../../docs/dashboard.png'));
  }
});
