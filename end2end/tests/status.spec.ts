import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { signInAdmin, hydrated, sqlite, schoolClock } from './helpers';

test('status page hydrates and its server function round-trips to SQLite', async ({ page }) => {
  await signInAdmin(page);
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
  });

  await page.goto('/status');
  // Server-rendered content is there before any script runs...
  await expect(page.getByRole('heading', { name: 'System status' })).toBeVisible();
  await expect(page.getByTestId('database-path')).toContainText('target/e2e/classpoints.db');
  // ...and the WASM bundle takes over the page.
  await hydrated(page);

  // When it was checked, on the school's clock (UTC+08:00), the instant kept in `datetime`.
  const checked = page.getByTestId('checked-at').locator('time');
  const before = (await checked.getAttribute('datetime'))!;
  await expect(checked).toHaveText(schoolClock(before));
  await expect(page.getByTestId('checked-at')).toContainText('(UTC+08:00)');
  const rpc = page.waitForResponse(
    (response) => response.url().includes('/rpc/') && response.request().method() === 'POST',
  );
  await page.getByTestId('refresh').click();
  const response = await rpc;
  expect(response.status()).toBe(200);

  await expect(checked).not.toHaveAttribute('datetime', before);
  await expect(checked).toHaveText(schoolClock((await checked.getAttribute('datetime'))!));
  await expect(page.locator('.status-facts')).toContainText('(wal)');
  // The page shows what the database holds, as sqlite3 reads it.
  await expect(page.locator('tr[data-table="settings"] td.num')).toHaveText(
    sqlite('SELECT count(*) FROM settings'),
  );
  expect(problems).toEqual([]);
});

test('an admin downloads a backup from the status page: the whole database, one file', async ({ page }) => {
  await signInAdmin(page);
  await page.goto('/status');
  await hydrated(page);
  const download = page.waitForEvent('download');
  await page.getByTestId('download-backup').click();
  const file = await download;
  const today = schoolClock(new Date().toISOString()).slice(0, 10);
  expect(file.suggestedFilename()).toBe(`classpoints-${today}.db`);
  // A database sqlite3 opens, whole, holding what the running one holds.
  const copy = (await file.path())!;
  const read = (sql: string) =>
    execFileSync('sqlite3', [copy, sql], { encoding: 'utf8' }).trim();
  expect(read('PRAGMA integrity_check')).toBe('ok');
  expect(read('SELECT count(*) FROM students')).toBe(sqlite('SELECT count(*) FROM students'));

  // The download is on record, newest first on the status page: who took it, and the size
  // of the file they got.
  expect(sqlite('SELECT bytes FROM backup_downloads ORDER BY id DESC LIMIT 1')).toBe(
    String(statSync(copy).size),
  );
  await page.getByTestId('refresh').click();
  const newest = page.getByTestId('backup-downloads').locator('tbody tr').first();
  await expect(newest).toContainText(sqlite("SELECT name FROM users WHERE username = 'admin'"));
  await expect(newest.locator('time')).toHaveCount(1);
});

test('the status page is for admins only', async ({ page }) => {
  await page.goto('/status');
  await expect(page).toHaveURL(/\/login$/);
});
