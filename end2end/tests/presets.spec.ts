import { test, expect, Page } from '@playwright/test';
import { signIn, openClass, hydrated, holdBack, requestsTo } from './helpers';

// These tests use 三年级二班 (teacher li), so the default presets other tests press in
// 三年级一班 stay as they are.
const CLASS = '三年级二班';

async function openEditor(page: Page) {
  await page.locator('.card').first().click();
  await page.getByRole('dialog').getByTestId('edit-presets').click();
  await expect(page.getByTestId('presets-editor')).toBeVisible();
}

test('a class edits its presets, uses them at once, keeps them, and can go back to the school\'s', async ({ page }) => {
  await signIn(page, 'li');
  await openClass(page, CLASS);
  await openEditor(page);
  const editor = page.getByTestId('presets-editor');
  await expect(editor).toContainText("school's presets");
  await expect(editor.getByTestId('preset-line')).toHaveCount(6);

  // Change the first, remove the last, add one.
  await editor.getByTestId('preset-reason').first().fill('朗读流利');
  await editor.getByTestId('preset-points').first().fill('3');
  await editor.getByTestId('remove-preset').last().click();
  await editor.getByTestId('add-preset').click();
  await editor.getByTestId('preset-reason').last().fill('值日认真');
  await editor.getByTestId('preset-points').last().fill('2');

  // A zero value is refused, naming the line, before anything is sent.
  await editor.getByTestId('preset-points').nth(1).fill('0');
  await editor.getByTestId('save-presets').click();
  await expect(editor.getByTestId('presets-error')).toContainText(
    'Preset 2, Points (presets[1].points): must not be zero',
  );
  await editor.getByTestId('preset-points').nth(1).fill('1');
  await editor.getByTestId('save-presets').click();
  await expect(editor).toHaveCount(0);

  const card = page.locator('.card').first();
  const id = (await card.getAttribute('data-student'))!;
  const before = Number(await card.locator('.points').textContent());
  await card.click();
  const sheet = page.getByRole('dialog');
  await expect(sheet.getByTestId('preset')).toHaveCount(6);
  await expect(sheet.getByRole('button', { name: '-1 迟到' })).toHaveCount(0);
  await sheet.getByRole('button', { name: '+3 朗读流利' }).click();
  await expect(page.locator(`.card[data-student="${id}"] .points`)).toHaveText(String(before + 3));

  // Kept by the server.
  await page.reload();
  await hydrated(page);
  await page.locator('.card').first().click();
  await expect(page.getByRole('dialog').getByRole('button', { name: '+2 值日认真' })).toBeVisible();
  await page.keyboard.press('Escape');

  await openEditor(page);
  await expect(page.getByTestId('presets-editor')).toContainText('its own presets');
  await page.getByTestId('reset-presets').click();
  await expect(page.getByTestId('presets-editor')).toHaveCount(0);
  await page.locator('.card').first().click();
  await expect(page.getByRole('dialog').getByRole('button', { name: '-1 迟到' })).toBeVisible();
});

test('dialogs take focus, keep Tab inside, and give focus back on Escape', async ({ page }) => {
  await signIn(page, 'li');
  await openClass(page, CLASS);
  const card = page.locator('.card').nth(2);
  await card.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog');
  await expect(dialog).toBeVisible();
  // Focus is inside the dialog, on its first control.
  expect(await dialog.evaluate((d) => d.contains(document.activeElement))).toBe(true);
  // However far one tabs, focus stays inside.
  const controls = await dialog.locator('button, a[href], input').count();
  for (let i = 0; i < controls + 2; i++) {
    await page.keyboard.press('Tab');
    expect(await dialog.evaluate((d) => d.contains(document.activeElement))).toBe(true);
  }
  await page.keyboard.press('Shift+Tab');
  expect(await dialog.evaluate((d) => d.contains(document.activeElement))).toBe(true);
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
  // Back on the card that opened it.
  await expect(card).toBeFocused();
});

test('a list without presets is refused, naming the list, and nothing is saved', async ({ page }) => {
  await signIn(page, 'li');
  await openClass(page, CLASS);
  await openEditor(page);
  const editor = page.getByTestId('presets-editor');
  const lines = await editor.getByTestId('preset-line').count();
  for (let i = 0; i < lines; i++) {
    await editor.getByTestId('remove-preset').first().click();
  }
  await expect(editor.getByTestId('preset-line')).toHaveCount(0);
  await editor.getByTestId('save-presets').click();
  await expect(editor.getByTestId('presets-error')).toHaveText(
    'Award presets (presets): must have 1 or more entries',
  );
  await page.keyboard.press('Escape');
  await expect(editor).toHaveCount(0);
  await openEditor(page);
  await expect(page.getByTestId('presets-editor').getByTestId('preset-line')).toHaveCount(lines);
});

test('the editor\'s code is fetched when it first opens, with a loading bar until it is there', async ({ page }) => {
  await signIn(page, 'li');
  await openClass(page, CLASS);
  // Hold back the editor's own module (a lazy part of the board) until the bar was seen.
  const release = await holdBack(page, /split_presets_editor_.*\.wasm$/);
  const bar = page.getByTestId('part-loading');
  await expect(bar).toHaveCount(0);
  await page.locator('.card').first().click();
  await page.getByRole('dialog').getByTestId('edit-presets').click();
  await expect(bar).toBeVisible();
  await expect(page.getByTestId('presets-editor')).toHaveCount(0);
  release();
  await expect(page.getByTestId('presets-editor')).toBeVisible();
  await expect(bar).toHaveCount(0);
});

test('the editor\'s code is fetched when its button gets focus, before it is pressed', async ({ page }) => {
  const fetched = requestsTo(page, /split_presets_editor_.*\.wasm$/);
  await signIn(page, 'li');
  await openClass(page, CLASS);
  await page.locator('.card').first().click();
  const button = page.getByRole('dialog').getByTestId('edit-presets');
  await expect(button).toBeVisible();
  expect(fetched).toEqual([]);
  const request = page.waitForRequest(/split_presets_editor_.*\.wasm$/);
  await button.focus();
  await request;
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('presets-editor')).toBeVisible();
  expect(fetched).toHaveLength(1);
});
