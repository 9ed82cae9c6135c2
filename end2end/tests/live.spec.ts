import { test, expect, Page, Browser } from '@playwright/test';
import { hydrated } from './helpers';

async function boardAs(browser: Browser, username: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill('classpoints-demo');
  await page.getByTestId('sign-in').click();
  await page.getByRole('link', { name: /三年级一班/ }).click();
  await expect(page.getByRole('heading', { name: '三年级一班' })).toBeVisible();
  await hydrated(page);
  return page;
}

async function award(page: Page, studentId: string, preset: string) {
  await page.locator(`.card[data-student="${studentId}"]`).click();
  await page.getByRole('dialog').getByRole('button', { name: preset }).click();
}

test('an award made on one device shows on another open board within a second', async ({ browser }) => {
  const teacher = await boardAs(browser, 'wang');
  const projector = await boardAs(browser, 'wang');
  const id = (await teacher.locator('.card').nth(2).getAttribute('data-student'))!;
  const points = (p: Page) => p.locator(`.card[data-student="${id}"] .points`);
  const before = Number(await points(projector).textContent());
  // Give the projector's live connection a moment to open.
  await projector.waitForTimeout(300);

  await award(teacher, id, '+2 作业优秀');
  await expect(points(teacher)).toHaveText(String(before + 2));
  await expect(points(projector)).toHaveText(String(before + 2), { timeout: 1000 });
});

test('a board that lost its connection catches up when it is back', async ({ browser }) => {
  const teacher = await boardAs(browser, 'wang');
  const projector = await boardAs(browser, 'wang');
  const id = (await teacher.locator('.card').nth(3).getAttribute('data-student'))!;
  const points = (p: Page) => p.locator(`.card[data-student="${id}"] .points`);
  const before = Number(await points(projector).textContent());

  // The test server ends live streams after 2 s; refuse the projector's reconnects so it
  // really is offline when the award is made.
  await projector.route('**/api/events**', (route) => route.abort());
  await projector.waitForTimeout(2500);
  await award(teacher, id, '+1 帮助同学');
  await expect(points(teacher)).toHaveText(String(before + 1));
  await projector.waitForTimeout(1000);
  await expect(points(projector)).toHaveText(String(before), { timeout: 100 });
  // Back online: the browser reconnects by itself (within a few seconds) and the board resyncs.
  await projector.unroute('**/api/events**');
  await expect(points(projector)).toHaveText(String(before + 1), { timeout: 15000 });
});
