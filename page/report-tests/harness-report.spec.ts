// The harness's HTML report, from real runs: `sio-harness run` launches the Rust server for two
// scenarios written here (one snapshot made wrong on purpose; payloads with markup in them; a
// token sent as an event argument), `sio-harness diff` runs them on the Rust server and the Node
// original; each page is opened in Chromium, which must render it without a script error, a
// console error or a dialog, and show the scenarios, the timelines and the differences.
import { expect, test, type Page } from '@playwright/test';
import { spawnSync } from 'child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';
import { pathToFileURL } from 'url';

const REPO = resolve(__dirname, '../..');
const HARNESS = process.env.SIO_HARNESS || join(REPO, 'target/debug/sio-harness');
const TARGETS = join(REPO, 'scenarios/targets.yaml');
const SCREENSHOT = join(REPO, 'target/report-tests/report.png');

const MARKUP_TITLE = '<script>window.injected = true</script>';
// No quotes: the transcript shows payloads as JSON, which would escape them.
const MARKUP_MESSAGE = '<img src=x onerror=window.injected=true>';

const SCENARIOS = `
tokens:
  admin: { user: admin-1 }
  alice: { user: user-1 }

scenarios:
  - name: a notification with markup in it reaches its user
    steps:
      - connect:
          client: alice
          auth: { token: "{{alice}}" }
          on_connect: [{ event: "subscribe:notifications" }]
      # Answered after the subscription: the join has happened.
      - emit: { client: alice, event: "notification:read", args: [sync] }
      - expect: { client: alice, event: "notification:read:error" }
      - http:
          method: POST
          path: /api/v1/notifications
          token: "{{admin}}"
          body: { userId: user-1, title: ${JSON.stringify(MARKUP_TITLE)}, message: ${JSON.stringify(MARKUP_MESSAGE)} }
          status: 201
      - expect: { client: alice, event: "notification:new" }

  - name: reading someone else's notification is refused
    steps:
      - connect: { client: alice, auth: { token: "{{alice}}" } }
      - emit: { client: alice, event: "notification:read", args: [n-bob-1] }
      - expect: { client: alice, event: "notification:read:error" }
      # A token as an argument reaches the transcript; the report must not show it.
      - emit: { client: alice, event: "notification:read", args: ["{{alice}}"] }
      - expect: { client: alice, event: "notification:read:error" }
`;

let work: string;

test.beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'sio-report-'));
  mkdirSync(join(work, 'scenarios'));
  writeFileSync(join(work, 'scenarios/report.yaml'), SCENARIOS);
});

test.afterEach(() => {
  rmSync(work, { recursive: true, force: true });
});

/** Runs the harness (it launches and stops its servers itself); its exit status and output. */
function harness(args: string[]): { status: number | null; output: string } {
  // From the work directory, so that the report names the file `scenarios/report.yaml`.
  const run = spawnSync(HARNESS, [...args, '--targets-file', TARGETS, 'scenarios'], {
    cwd: work,
    encoding: 'utf8',
    timeout: 150_000,
    // CI mode: no .snap.new files beside the snapshots.
    env: { ...process.env, CI: '1' },
  });
  if (run.error) throw run.error;
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** Opens a report in Chromium; fails the test on a script error, a console error or a dialog. */
async function open(page: Page, file: string): Promise<string[]> {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`script error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  page.on('dialog', (dialog) => {
    problems.push(`dialog opened: ${dialog.message()}`);
    void dialog.dismiss();
  });
  await page.goto(pathToFileURL(file).href);
  return problems;
}

async function expectNothingInjected(page: Page, file: string): Promise<void> {
  await expect(page.locator('script')).toHaveCount(0);
  await expect(page.locator('img')).toHaveCount(0);
  expect(await page.evaluate(() => (window as unknown as { injected?: boolean }).injected)).toBeUndefined();
  // Neither the file nor the rendered page holds a token (every JWT starts with "eyJ").
  expect(readFileSync(file, 'utf8')).not.toContain('eyJ');
  expect(await page.content()).not.toContain('eyJ');
}

test('run: the report shows every scenario, its timeline and a failing snapshot diff', async ({ page }) => {
  const snapshots = join(work, 'snapshots');
  const first = harness(['run', '--target', 'rust', '--snapshots', snapshots, '--update']);
  expect(first.status, first.output).toBe(0);

  // Make one snapshot wrong: the run must report the difference.
  const wrong = readdirSync(snapshots).find((name) => name.includes('someone-else'));
  expect(wrong, readdirSync(snapshots).join(', ')).toBeDefined();
  const wrongPath = join(snapshots, wrong as string);
  writeFileSync(wrongPath, readFileSync(wrongPath, 'utf8').replace('["n-bob-1"]', '["n-bob-9"]'));

  const reportDir = join(work, 'report');
  const second = harness(['run', '--target', 'rust', '--snapshots', snapshots, '--report-html', reportDir]);
  expect(second.status, second.output).toBe(1);
  const file = join(reportDir, 'index.html');
  const problems = await open(page, file);

  await expect(page.locator('h1')).toHaveText('sio-harness run against rust');
  await expect(page.locator('.summary')).toContainText('2 scenarios: 1 passed, 1 failed');
  const overview = page.locator('table.overview tbody tr');
  await expect(overview).toHaveCount(2);
  await expect(overview.nth(0)).toContainText('a notification with markup in it reaches its user');
  await expect(overview.nth(0).locator('.badge')).toHaveText('ok');
  await expect(overview.nth(1).locator('.badge')).toHaveText('DIFFERS');

  // The passing scenario: a timeline with the client's and the HTTP calls' lanes, the markup
  // shown as text.
  const passing = page.locator('section.scenario').nth(0);
  await expect(passing.locator('table.timeline thead th')).toHaveText(['ms', 'server', 'client alice', 'HTTP']);
  await expect(passing.locator('table.timeline td.from', { hasText: 'event / notification:new' })).toContainText(MARKUP_TITLE);
  // The HTTP line shows the body the step sent (with the markup, as text) and the answer.
  await expect(passing.locator('table.timeline td.to', { hasText: /POST \/api\/v1\/notifications \{.* -> 201 / })).toContainText(MARKUP_MESSAGE);

  // The failing scenario: the snapshot's line removed, this run's added.
  const failing = page.locator('section.scenario.failed');
  await expect(failing).toHaveCount(1);
  await expect(failing.locator('.diff .del', { hasText: 'n-bob-9' })).toHaveCount(1);
  await expect(failing.locator('.diff .add', { hasText: 'n-bob-1' })).toHaveCount(1);
  await expect(failing.locator('.diff .add', { hasText: '<jwt>' }).first()).toBeVisible();

  await expectNothingInjected(page, file);
  await failing.locator('.diff').scrollIntoViewIfNeeded();
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  expect(problems).toEqual([]);
});

test('diff: the report puts both targets side by side', async ({ page }) => {
  const reportDir = join(work, 'diff-report');
  const diff = harness(['diff', '--target', 'rust', '--target', 'node', '--report-html', reportDir]);
  expect(diff.output).toContain('2 scenarios, 1 differ');
  expect(diff.status, diff.output).toBe(1);
  const file = join(reportDir, 'index.html');
  const problems = await open(page, file);

  await expect(page.locator('h1')).toHaveText('sio-harness diff: rust against node');
  const sections = page.locator('section.scenario');
  await expect(sections).toHaveCount(2);
  await expect(sections.locator('table.sides').first().locator('thead th')).toHaveText(['rust', 'node']);
  // Launched per scenario with their own secrets, the two servers' tokens differ: the scenario
  // that echoes one differs, in the lines that carry it, and nowhere else.
  const markup = sections.nth(0);
  await expect(markup.locator('.badge')).toHaveText('same');
  await expect(markup.locator('table.sides tr.changed')).toHaveCount(0);
  await expect(markup.locator('table.sides td.eq', { hasText: MARKUP_TITLE }).first()).toBeVisible();
  const echoed = sections.nth(1);
  await expect(echoed.locator('.badge')).toHaveText('DIFFERS');
  const changed = echoed.locator('table.sides tr.changed');
  expect(await changed.count()).toBeGreaterThan(0);
  for (const row of await changed.all()) await expect(row).toContainText('<jwt>');

  await expectNothingInjected(page, file);
  expect(problems).toEqual([]);
});
