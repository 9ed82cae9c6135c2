import { test, expect, Page } from '@playwright/test';
import { signIn, expectNoViolations, hydrated, openClass } from './helpers';


test('sign-in page has no accessibility violations', async ({ page }) => {
  await page.goto('/login');
  await hydrated(page);
  await expectNoViolations(page);
});

test('classes, board, award sheet, student and projector pages have no accessibility violations', async ({ page }) => {
  await signIn(page);
  await expectNoViolations(page);
  await page.getByRole('link', { name: /三年级一班/ }).click();
  await expect(page.getByRole('heading', { name: '三年级一班' })).toBeVisible();
  await expectNoViolations(page);
  await page.locator('.card').first().click();
  await expect(page.getByRole('dialog')).toBeVisible();
  await expectNoViolations(page);
  await page.getByTestId('history-link').click();
  await expect(page.locator('table.history')).toBeVisible();
  await expectNoViolations(page);
  await page.goBack();
  await expect(page.locator('.card').first()).toBeVisible();
  await page.getByTestId('projector').click();
  await expectNoViolations(page);
});

test('projector mode: large board, negative points and ranking can be hidden', async ({ page }) => {
  await signIn(page);
  await openClass(page);
  // (Which balances are hidden is unit-tested in ui::board; default rules allow no negatives.)
  const card = page.locator('.card').last();
  const id = (await card.getAttribute('data-student'))!;
  const url = page.url();
  await page.goto(`${url}?view=projector&hide_negative=1&hide_ranking=1`);
  await expect(page.locator('.board.projector')).toBeVisible();
  await expect(page.getByTestId('hide-negative')).toBeChecked();
  await expect(page.getByTestId('sort')).toBeHidden();
  const size = await page.locator(`.card[data-student="${id}"] .points`).evaluate(
    (el) => parseFloat(getComputedStyle(el).fontSize),
  );
  expect(size).toBeGreaterThanOrEqual(40);
  await page.getByTestId('hide-ranking').uncheck();
  await expect(page.getByTestId('sort')).toBeVisible();
});

test('projector mode fills the screen; Escape closes a dialog on it first, then leaves the mode, as does leaving full screen', async ({ page }) => {
  await signIn(page);
  await openClass(page);
  const fullScreen = () => page.evaluate(() => document.fullscreenElement !== null);
  await page.getByTestId('projector').click();
  await expect(page.locator('.board.projector')).toBeVisible();
  await expect.poll(fullScreen).toBe(true);
  await page.locator('.card').first().click();
  await expect(page.getByRole('dialog')).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(page.getByRole('dialog')).toHaveCount(0);
  await expect(page.locator('.board.projector')).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(page.locator('.board.projector')).toHaveCount(0);
  await expect(page.getByTestId('projector')).toHaveAttribute('aria-pressed', 'false');
  await expect.poll(fullScreen).toBe(false);
  // Full screen ended by the browser (its own Escape, F11): projector mode ends with it.
  await page.getByTestId('projector').click();
  await expect.poll(fullScreen).toBe(true);
  await page.evaluate(() => document.exitFullscreen());
  await expect(page.locator('.board.projector')).toHaveCount(0);
});

test('board screenshots at phone and projector size', async ({ page }, info) => {
  await signIn(page);
  await openClass(page);
  const board = page.url();
  await page.setViewportSize({ width: 375, height: 812 });
  await page.goto(board);
  await expect(page.locator('.card').first()).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({ path: info.outputPath('board-phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1920, height: 1080 });
  await page.goto(`${board}?view=projector`);
  await expect(page.locator('.board.projector')).toBeVisible();
  await page.screenshot({ path: info.outputPath('board-projector.png') });
  await info.attach('board-phone', { path: info.outputPath('board-phone.png'), contentType: 'image/png' });
  await info.attach('board-projector', { path: info.outputPath('board-projector.png'), contentType: 'image/png' });
});
