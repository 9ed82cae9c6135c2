import { test, expect } from '@playwright/test';
import { signIn, hydrated, openClass, schoolClock } from './helpers';

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

test('a long history pages back with "Show older", and times read as the school clock', async ({ page }) => {
  await signIn(page);
  await openClass(page);
  const card = page.locator('.card').last();
  const id = (await card.getAttribute('data-student'))!;
  // More rows than one page (100) holds: pairs of +1 / -1, so the balance ends where it was.
  const login = await page.request.post('/api/auth/login', {
    data: { username: 'wang', password: 'classpoints-demo' },
  });
  const headers = { Authorization: `Bearer ${(await login.json()).token}` };
  for (let i = 0; i < 60; i++) {
    for (const points_change of [1, -1]) {
      const written = await page.request.post('/api/points', {
        headers,
        data: { student_id: id, points_change, reason: `paging ${i}` },
      });
      expect(written.status()).toBe(201);
    }
  }
  const all = await page.request.get(`/api/points?student_id=${id}&transactions=true&limit=1000`, {
    headers,
  });
  const total = (await all.json()).transactions.length;
  expect(total).toBeGreaterThan(120);

  await page.goto(`/student/${id}`);
  await hydrated(page);
  const rows = page.locator('table.history tbody tr');
  await expect(rows).toHaveCount(100);
  // The chart has a point per row shown.
  const chartPoints = async () =>
    ((await page.locator('.chart svg polyline').getAttribute('points')) ?? '').trim().split(/\s+/).length;
  await expect.poll(chartPoints).toBe(100);

  // Times read as the school's clock (UTC+08:00), to the minute: 08:05Z shows as 16:05.
  const newest = rows.first().locator('time');
  await expect(newest).toHaveText(schoolClock((await newest.getAttribute('datetime'))!, false));

  // A page that cannot be fetched is said; the button stays for another try.
  await page.route(/load_older_history/, (route) => route.abort());
  await page.getByTestId('show-older').click();
  await expect(page.getByTestId('older-error')).toBeVisible();
  await expect(rows).toHaveCount(100);
  await page.unroute(/load_older_history/);

  // Older rows arrive below the first page until there are none left.
  while (await page.getByTestId('show-older').isVisible()) {
    const before = await rows.count();
    await page.getByTestId('show-older').click();
    await expect(rows).not.toHaveCount(before);
  }
  await expect(rows).toHaveCount(total);
  await expect(page.getByTestId('older-error')).toHaveCount(0);
  // Older rows extend the chart back in time too.
  await expect.poll(chartPoints).toBe(total);
  const shown = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-transaction')));
  expect(new Set(shown).size).toBe(total);
  await expect(rows.last()).not.toContainText('paging');

  // Undoing a row "Show older" brought in keeps every row in view: the reversal is added on
  // top and the undone row, far down, is struck through.
  const deep = rows.nth(110);
  await expect(deep).toContainText('paging');
  const deepId = (await deep.getAttribute('data-transaction'))!;
  await deep.getByTestId('undo-row').click();
  await expect(rows).toHaveCount(total + 1);
  await expect(page.locator(`tr[data-transaction="${deepId}"]`)).toHaveClass(/reversed/);
  await expect(rows.first()).toContainText('undo');
  await expect(rows.last()).not.toContainText('paging');
  await expect(page.getByTestId('show-older')).toHaveCount(0);
  await expect.poll(chartPoints).toBe(total + 1);
});
