import { test, expect, Page, Locator } from '@playwright/test';
import { signIn, openClass, hydrated, holdBack, requestsTo } from './helpers';

const points = async (card: Locator) => Number(await card.locator('.points').textContent());
const cardOf = (page: Page, id: string) => page.locator(`.card[data-student="${id}"]`);

test('select several students, award them at once, save them as a group and award the group', async ({ page }) => {
  await signIn(page);
  await openClass(page);
  const ids = await Promise.all([6, 7, 8].map((n) => page.locator('.card').nth(n).getAttribute('data-student')));
  const other = (await page.locator('.card').nth(9).getAttribute('data-student'))!;
  const before = await Promise.all(ids.map((id) => points(cardOf(page, id!))));
  const otherBefore = await points(cardOf(page, other));

  await page.getByTestId('select-mode').click();
  for (const id of ids) await cardOf(page, id!).click();
  await expect(page.getByRole('dialog')).toHaveCount(0);
  await expect(page.getByTestId('selection-bar')).toContainText('3');
  await page.getByTestId('award-selected').click();
  await page.getByRole('dialog').getByRole('button', { name: '+1 积极发言' }).click();
  for (const [i, id] of ids.entries()) {
    await expect(cardOf(page, id!).locator('.points')).toHaveText(String(before[i] + 1));
  }
  await expect(cardOf(page, other).locator('.points')).toHaveText(String(otherBefore));

  await page.getByTestId('select-mode').click();
  for (const id of ids.slice(0, 2)) await cardOf(page, id!).click();
  await page.getByTestId('group-name').fill('Reading club');
  await page.getByTestId('save-group').click();
  const chip = page.getByTestId('group').filter({ hasText: 'Reading club' });
  await expect(chip).toContainText('2');
  await chip.click();
  await page.getByRole('dialog').getByRole('button', { name: '+2 作业优秀' }).click();
  await expect(cardOf(page, ids[0]!).locator('.points')).toHaveText(String(before[0] + 3));
  await expect(cardOf(page, ids[1]!).locator('.points')).toHaveText(String(before[1] + 3));
  await expect(cardOf(page, ids[2]!).locator('.points')).toHaveText(String(before[2] + 1));
});

test('the random picker does not repeat anyone until everyone was picked', async ({ page }) => {
  await signIn(page);
  await openClass(page);
  const count = await page.locator('.card').count();
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    await page.getByTestId('random').click();
    const dialog = page.getByRole('dialog');
    await expect(dialog).toBeVisible();
    const picked = (await page.locator('.card.picked').getAttribute('data-student'))!;
    expect(seen.has(picked)).toBe(false);
    seen.add(picked);
    await page.keyboard.press('Escape');
  }
  expect(seen.size).toBe(count);
});

test('a group is renamed, given other members and deleted from select mode', async ({ page }) => {
  await signIn(page);
  await openClass(page);
  const ids = await Promise.all([0, 1, 2].map((n) => page.locator('.card').nth(n).getAttribute('data-student')));
  await page.getByTestId('select-mode').click();
  await cardOf(page, ids[0]!).click();
  await page.getByTestId('group-name').fill('Chess club');
  await page.getByTestId('save-group').click();
  const chip = page.getByTestId('group').filter({ hasText: 'Chess club' });
  await expect(chip).toContainText('1');

  // In select mode a chip loads the group: its members are selected and its name editable.
  await page.getByTestId('select-mode').click();
  await chip.click();
  await expect(cardOf(page, ids[0]!)).toHaveClass(/selected/);
  await expect(page.getByTestId('group-name')).toHaveValue('Chess club');
  await cardOf(page, ids[0]!).click();
  await cardOf(page, ids[1]!).click();
  await cardOf(page, ids[2]!).click();
  await page.getByTestId('group-name').fill('Chess team');
  await page.getByTestId('save-group').click();
  const renamed = page.getByTestId('group').filter({ hasText: 'Chess team' });
  await expect(renamed).toContainText('2');
  await expect(page.getByTestId('group').filter({ hasText: 'Chess club' })).toHaveCount(0);

  // The server kept it: after a reload the group awards exactly its two members.
  await page.reload();
  await hydrated(page);
  const before = await Promise.all(ids.map((id) => points(cardOf(page, id!))));
  await page.getByTestId('group').filter({ hasText: 'Chess team' }).click();
  await page.getByRole('dialog').getByRole('button', { name: '+1 积极发言' }).click();
  await expect(cardOf(page, ids[1]!).locator('.points')).toHaveText(String(before[1] + 1));
  await expect(cardOf(page, ids[2]!).locator('.points')).toHaveText(String(before[2] + 1));
  await expect(cardOf(page, ids[0]!).locator('.points')).toHaveText(String(before[0]));

  await page.getByTestId('select-mode').click();
  await page.getByTestId('group').filter({ hasText: 'Chess team' }).click();
  await page.getByTestId('delete-group').click();
  await expect(page.getByTestId('group').filter({ hasText: 'Chess team' })).toHaveCount(0);
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('group').filter({ hasText: 'Chess team' })).toHaveCount(0);
  // Its award stays in the students' points.
  await expect(cardOf(page, ids[1]!).locator('.points')).toHaveText(String(before[1] + 1));
});

test('a group change answered after select mode was closed still reaches the board', async ({ page }) => {
  await signIn(page);
  await openClass(page);
  // The answer to saving a group is held back until select mode is closed.
  const release = await holdBack(page, '**/rpc/save_group*');
  const chips = await page.getByTestId('group').count();

  await page.getByTestId('select-mode').click();
  await page.locator('.card').first().click();
  await page.getByTestId('group-name').fill('红队');
  await page.getByTestId('save-group').click();
  await page.getByTestId('select-mode').click();
  await expect(page.getByTestId('selection-bar')).toHaveCount(0);
  release();

  // The name was taken: the refusal is shown although the bar that sent it has closed.
  await expect(page.getByRole('alert')).toContainText('this class already has a group with that name');
  await expect(page.getByTestId('group')).toHaveCount(chips);
});

test('select mode\'s code is fetched when the teacher points at its button, before the click', async ({ page }) => {
  const fetched = requestsTo(page, /split_selection_bar_.*\.wasm$/);
  await signIn(page);
  await openClass(page);
  expect(fetched).toEqual([]);
  const request = page.waitForRequest(/split_selection_bar_.*\.wasm$/);
  await page.getByTestId('select-mode').hover();
  await request;
  await page.getByTestId('select-mode').click();
  await expect(page.getByTestId('selection-bar')).toBeVisible();
  expect(fetched).toHaveLength(1);
});
