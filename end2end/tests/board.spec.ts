import { test, expect, Page, Locator } from '@playwright/test';
import { signIn, openClass, hydrated } from './helpers';
import { readFileSync } from 'node:fs';

async function points(card: Locator): Promise<number> {
  return Number(await card.locator('.points').textContent());
}

function cardOf(page: Page, studentId: string): Locator {
  return page.locator(`.card[data-student="${studentId}"]`);
}

test('sign in, award by tapping a student and a preset, see the new total, undo it', async ({ page }) => {
  await signIn(page);
  await openClass(page);
  const first = page.locator('.card').first();
  const id = (await first.getAttribute('data-student'))!;
  const card = cardOf(page, id);
  const before = await points(card);

  await card.click();
  await page.getByRole('dialog').getByRole('button', { name: '+1 积极发言' }).click();
  await expect(page.getByRole('dialog')).toHaveCount(0);
  await expect(card.locator('.points')).toHaveText(String(before + 1));
  await expect(page.getByTestId('toast')).toContainText('积极发言');

  await page.getByTestId('undo').click();
  await expect(card.locator('.points')).toHaveText(String(before));
  await expect(page.getByTestId('toast')).toHaveCount(0);

  // The server agrees after a reload.
  await page.reload();
  await expect(cardOf(page, id).locator('.points')).toHaveText(String(before));
});

test('a double click on a preset awards once', async ({ page }) => {
  await signIn(page);
  await openClass(page);
  const id = (await page.locator('.card').nth(1).getAttribute('data-student'))!;
  const before = await points(cardOf(page, id));
  await cardOf(page, id).click();
  await page.getByRole('dialog').getByRole('button', { name: '+2 作业优秀' }).dblclick();
  await expect(cardOf(page, id).locator('.points')).toHaveText(String(before + 2));
  await page.waitForTimeout(500);
  await page.reload();
  await expect(cardOf(page, id).locator('.points')).toHaveText(String(before + 2));
});

test('whole-class award gives every student the points at once', async ({ page }) => {
  await signIn(page);
  await openClass(page);
  const cards = page.locator('.card');
  const count = await cards.count();
  expect(count).toBeGreaterThan(10);
  const before = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const card = cards.nth(i);
    before.set((await card.getAttribute('data-student'))!, await points(card));
  }
  await page.getByTestId('award-class').click();
  await page.getByRole('dialog').getByRole('button', { name: '+1 课堂表现优秀' }).click();
  await expect(page.getByTestId('toast')).toContainText(`${count} students`);
  for (const [id, value] of before) {
    await expect(cardOf(page, id).locator('.points')).toHaveText(String(value + 1));
  }
});

test('a wrong password is refused with a message', async ({ page }) => {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Username').fill('wang');
  await page.getByLabel('Password').fill('not-the-password');
  const reply = page.waitForResponse((r) => r.url().includes('/rpc/sign_in'));
  await page.getByTestId('sign-in').click();
  expect((await reply).status()).toBe(401);
  await expect(page.getByRole('alert')).toContainText('wrong username or password');
  await expect(page).toHaveURL(/\/login$/);
});

test('signed out, the classes page sends you to sign in', async ({ page }) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/login$/);
});

test('signing out from the board ends the session: back to sign-in, the board no longer opens', async ({ page }) => {
  // Signed out, the top bar offers only the language: no classes, no name, no sign-out.
  await page.goto('/login');
  await hydrated(page);
  const topbar = page.locator('header.topbar');
  await expect(topbar.getByTestId('language')).toBeVisible();
  for (const part of ['nav-classes', 'signed-in-as', 'sign-out']) {
    await expect(topbar.getByTestId(part)).toHaveCount(0);
  }
  await signIn(page);
  // Signed in, it says whose session is open (a classroom computer is often shared).
  await expect(topbar.getByTestId('signed-in-as')).toHaveText('王老师');
  await expect(topbar.getByTestId('nav-classes')).toBeVisible();
  await openClass(page);
  const board = page.url();
  await page.getByTestId('sign-out').click();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await expect(topbar.getByTestId('sign-out')).toHaveCount(0);
  await expect(topbar.getByTestId('signed-in-as')).toHaveCount(0);
  await page.goto(board);
  await expect(page).toHaveURL(/\/login$/);
});

test('a lost response is retried with the same request id and awards once', async ({ page }) => {
  await signIn(page);
  await openClass(page);
  const id = (await page.locator('.card').nth(5).getAttribute('data-student'))!;
  const before = await points(cardOf(page, id));
  // The first attempt reaches the server and commits, but its response never arrives.
  let sent: string | undefined;
  await page.route('**/rpc/award*', async (route) => {
    sent = route.request().postData() ?? undefined;
    await route.fetch();
    await route.abort('connectionreset');
  });
  await cardOf(page, id).click();
  await page.getByRole('dialog').getByRole('button', { name: '+1 积极发言' }).click();
  await expect(page.getByTestId('retry')).toBeVisible();
  // (The write did commit: the board's live stream may already show it.)

  await page.unroute('**/rpc/award*');
  const retried = page.waitForRequest((r) => r.url().includes('/rpc/award'));
  await page.getByTestId('retry').click();
  expect((await retried).postData()).toBe(sent);
  await expect(cardOf(page, id).locator('.points')).toHaveText(String(before + 1));
  await page.reload();
  await expect(cardOf(page, id).locator('.points')).toHaveText(String(before + 1));
});

test('Escape closes the award sheet', async ({ page }) => {
  await signIn(page);
  await openClass(page);
  await page.locator('.card').first().click();
  await expect(page.getByRole('dialog')).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(page.getByRole('dialog')).toHaveCount(0);
});

test('a custom amount: awards without a reason, deducts only with one', async ({ page }) => {
  await signIn(page);
  await openClass(page);
  const id = (await page.locator('.card').nth(2).getAttribute('data-student'))!;
  const card = cardOf(page, id);
  const before = await points(card);
  const give = async (amount: string, reason = '') => {
    await card.click();
    const sheet = page.getByRole('dialog');
    await sheet.getByTestId('custom-points').fill(amount);
    await sheet.getByTestId('custom-reason').fill(reason);
    await sheet.getByRole('button', { name: 'Give' }).click();
    await expect(sheet).toHaveCount(0);
  };

  await give('3');
  await expect(card.locator('.points')).toHaveText(String(before + 3));

  // The default rules want a reason for a deduction: refused, nothing changes.
  await give('-2');
  await expect(page.getByRole('alert')).toContainText('deductions and redemptions need a reason');
  await expect(card.locator('.points')).toHaveText(String(before + 3));

  await give('-2', 'talking in class');
  await expect(card.locator('.points')).toHaveText(String(before + 1));
  await expect(page.getByTestId('toast')).toContainText('-2 talking in class');
  await page.reload();
  await expect(cardOf(page, id).locator('.points')).toHaveText(String(before + 1));
});

test('a student spends points on a reward: a redemption, never more than they have, undoable', async ({ page }) => {
  await signIn(page);
  await openClass(page);
  const id = (await page.locator('.card').nth(3).getAttribute('data-student'))!;
  const card = cardOf(page, id);
  const before = await points(card);
  const sheet = page.getByRole('dialog');
  const redeem = async (amount: string, reward: string) => {
    await card.click();
    await sheet.getByTestId('redeem-points').fill(amount);
    await sheet.getByTestId('redeem-reward').fill(reward);
    await sheet.getByRole('button', { name: 'Redeem' }).click();
  };

  await card.click();
  await sheet.getByTestId('custom-points').fill('5');
  await sheet.getByRole('button', { name: 'Give' }).click();
  await expect(card.locator('.points')).toHaveText(String(before + 5));

  await redeem('3', 'Sticker');
  await expect(sheet).toHaveCount(0);
  await expect(card.locator('.points')).toHaveText(String(before + 2));
  await expect(page.getByTestId('toast')).toContainText('-3 Sticker (redemption)');
  await page.getByTestId('undo').click();
  await expect(card.locator('.points')).toHaveText(String(before + 5));

  // More than the balance: refused by the rules (no balance below 0), nothing spent.
  await redeem(String(before + 6), 'Class pet for a day');
  await expect(page.getByRole('alert')).toContainText(
    'the balance would fall to -1, below the lowest allowed (0)',
  );
  await expect(card.locator('.points')).toHaveText(String(before + 5));

  // Not a positive whole number: the board says so and sends nothing.
  await redeem('-2', 'Sticker');
  await expect(page.getByRole('alert')).toContainText('Enter the points to spend');
  await expect(sheet).toBeVisible();
  await page.keyboard.press('Escape');

  await redeem('4', 'Pencil');
  await expect(card.locator('.points')).toHaveText(String(before + 1));
  await page.reload();
  await expect(cardOf(page, id).locator('.points')).toHaveText(String(before + 1));

  // The student's history names it; the undone one is struck through.
  await cardOf(page, id).click();
  await sheet.getByTestId('history-link').click();
  const pencil = page.locator('tr', { hasText: 'Pencil' });
  await expect(pencil).toContainText('-4 redemption');
  await expect(page.locator('tr.reversed', { hasText: 'Sticker' })).toContainText('-3 redemption');

  // A reward is one student's: the whole-class sheet offers none.
  await page.goBack();
  await page.getByTestId('award-class').click();
  await expect(sheet).toBeVisible();
  await expect(sheet.getByTestId('redeem-form')).toHaveCount(0);
});

test('a class without students says how to add them, and fills in live when one is added', async ({ page }) => {
  await signIn(page, 'li');
  const login = await page.request.post('/api/auth/login', {
    data: { username: 'li', password: 'classpoints-demo' },
  });
  const headers = { Authorization: `Bearer ${(await login.json()).token}` };
  const created = await page.request.post('/api/classes', { headers, data: { name: '新班级' } });
  expect(created.status()).toBe(201);
  const classId = (await created.json()).id;

  await page.goto(`/class/${classId}`);
  await hydrated(page);
  await expect(page.getByTestId('no-students')).toContainText('No students in this class yet');
  const tools = ['award-class', 'random', 'select-mode', 'sort'];
  for (const tool of tools) {
    await expect(page.getByTestId(tool)).toBeDisabled();
  }

  // A student added elsewhere (here through the API) appears on the open board.
  const added = await page.request.post('/api/students', {
    headers,
    data: { class_id: classId, name: '新同学' },
  });
  expect(added.status()).toBe(201);
  await expect(page.locator('.card')).toHaveCount(1);
  await expect(page.locator('.card')).toContainText('新同学');
  await expect(page.getByTestId('no-students')).toHaveCount(0);
  for (const tool of tools) {
    await expect(page.getByTestId(tool)).toBeEnabled();
  }
});

test("my classes offer each class's points as a CSV file a spreadsheet reads", async ({ page }) => {
  await signIn(page);
  const download = page.waitForEvent('download');
  await page.getByRole('listitem').filter({ hasText: '三年级一班' }).getByTestId('download-points').click();
  const file = await download;
  expect(file.suggestedFilename()).toBe('三年级一班.csv');
  const text = readFileSync((await file.path())!, 'utf8');
  expect(text.startsWith('\ufeff')).toBe(true); // so spreadsheet programs read UTF-8
  const lines = text.slice(1).trim().split('\n');
  expect(lines[0]).toBe('class,student_no,name,points,archived,id');
  await openClass(page);
  const cards = page.locator('.card');
  expect(lines.length - 1).toBe(await cards.count());
  const first = cards.first();
  const id = (await first.getAttribute('data-student'))!;
  const shown = await points(first);
  expect(lines.find((line) => line.endsWith(`,${id}`))).toContain(`,${shown},false,${id}`);
});
