import { test, expect } from '@playwright/test';
import { signIn, hydrated, openClass } from './helpers';

test('a student page shows who gave what and why, undo strikes the row through, and a chart', async ({ page }) => {
  await signIn(page);
  await openClass(page);
  const card = page.locator('.card').nth(4);
  const id = (await card.getAttribute('data-student'))!;
  const name = (await card.getAttribute('data-name'))!;
  await card.click();
  await page.getByRole('dialog').getByRole('button', { name: '+1 帮助同学' }).click();
  await expect(page.getByTestId('toast')).toBeVisible();

  await card.click();
  await page.getByTestId('history-link').click();
  await expect(page.getByRole('heading', { name })).toBeVisible();
  await hydrated(page);
  const newest = page.locator('table.history tbody tr').first();
  await expect(newest).toContainText('王老师');
  await expect(newest).toContainText('+1');
  await expect(newest).toContainText('帮助同学');
  await expect(page.locator('.chart svg polyline')).toHaveCount(1);
  const balance = Number(await page.getByTestId('balance').textContent());

  await newest.getByTestId('undo-row').click();
  // The reversal is now the newest row; the original stays, struck through, without undo.
  await expect(page.locator('table.history tbody tr').first()).toContainText('undo');
  const original = page.locator('table.history tbody tr.reversed').first();
  await expect(original).toContainText('帮助同学');
  await expect(original.getByTestId('undo-row')).toHaveCount(0);
  await expect(page.getByTestId('balance')).toHaveText(String(balance - 1));
  expect(page.url()).toContain(`/student/${id}`);
});
