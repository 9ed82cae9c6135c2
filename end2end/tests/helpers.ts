import { expect, Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { execFileSync } from 'node:child_process';

// Resolves once the WASM bundle has hydrated the page (an Effect sets the marker). A debug
// bundle takes a few seconds to compile in a fresh browser context on a busy 2-core machine,
// so this waits longer than the default; it is readiness, not a speed check.
export async function hydrated(page: Page) {
  await expect(page.locator('main[data-hydrated="true"]')).toBeAttached({ timeout: 30_000 });
}

// The test server starts on an empty database, so the demo school is there:
// teachers wang and li (password classpoints-demo); wang teaches 三年级一班.
export async function signIn(page: Page, username = 'wang', password = 'classpoints-demo') {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByTestId('sign-in').click();
  await expect(page.getByRole('heading', { name: 'My classes' })).toBeVisible();
}

export async function openClass(page: Page, name = '三年级一班') {
  await page.getByRole('link', { name: new RegExp(name) }).click();
  await expect(page.getByRole('heading', { name })).toBeVisible();
  await hydrated(page);
}

// The sign-in form's labels in a browser set to Chinese (the default is English).
export const CHINESE_LABELS = { username: '用户名', password: '密码' };

// The demo's admin (created on an empty database when no admin comes from the environment).
export async function signInAdmin(page: Page, labels = { username: 'Username', password: 'Password' }) {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel(labels.username).fill('admin');
  await page.getByLabel(labels.password).fill('classpoints-admin');
  await page.getByTestId('sign-in').click();
  await expect(page.getByTestId('nav-admin')).toBeVisible();
}

// axe-core's verdict on the page as it is now: no violations, or the list of them.
export async function expectNoViolations(page: Page) {
  const results = await new AxeBuilder({ page }).analyze();
  const summary = results.violations.map(
    (v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`,
  );
  expect(summary).toEqual([]);
}

// The suite's server runs on this SQLite file (see playwright.config.ts).
const DB = '../target/e2e/classpoints.db';

/** Runs SQL on the live database with Debian's sqlite3, as someone outside the app would. */
export function sqlite(sql: string): string {
  return execFileSync('sqlite3', ['-cmd', '.timeout 5000', DB, sql], { encoding: 'utf8' }).trim();
}

/** Holds back every request matching `url` until the returned function is called. */
export async function holdBack(page: Page, url: string | RegExp): Promise<() => void> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route(url, async (route) => {
    await held;
    await route.continue();
  });
  return release;
}

/** The URLs of the page's requests matching `url`, from now on, as they are made. */
export function requestsTo(page: Page, url: RegExp): string[] {
  const seen: string[] = [];
  page.on('request', (request) => {
    if (url.test(request.url())) seen.push(request.url());
  });
  return seen;
}

/** A stored UTC timestamp as the demo school's clock shows it: its rules keep the default
 *  time zone, UTC+08:00 (the admin spec's rules test puts it back). */
export function schoolClock(stored: string, withSeconds = true): string {
  const local = new Date(Date.parse(stored) + 8 * 3600_000).toISOString();
  return `${local.slice(0, 10)} ${local.slice(11, withSeconds ? 19 : 16)}`;
}
