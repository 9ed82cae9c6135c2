import { test, expect } from '@playwright/test';
import { hydrated, openClass, signInAdmin, CHINESE_LABELS } from './helpers';

test.describe('in a browser set to Chinese', () => {
  test.use({ locale: 'zh-CN' });

  test('pages come in Chinese and can be switched to English and back', async ({ page }) => {
    await page.goto('/login');
    await hydrated(page);
    await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
    await expect(page.getByRole('heading', { name: '登录' })).toBeVisible();
    await page.getByLabel(CHINESE_LABELS.username).fill('wang');
    await page.getByLabel(CHINESE_LABELS.password).fill('classpoints-demo');
    await page.getByTestId('sign-in').click();
    await expect(page.getByRole('heading', { name: '我的班级' })).toBeVisible();

    await page.getByTestId('language').click();
    await expect(page.getByRole('heading', { name: 'My classes' })).toBeVisible();
    await expect(page.locator('html')).toHaveAttribute('lang', 'en');
    // The choice is remembered across page loads.
    await page.reload();
    await expect(page.getByRole('heading', { name: 'My classes' })).toBeVisible();
    await page.getByTestId('language').click();
    await expect(page.getByRole('heading', { name: '我的班级' })).toBeVisible();

    // Switched on another page, the choice holds for the whole site.
    await page.getByRole('link', { name: /三年级一班/ }).click();
    await expect(page.getByRole('heading', { name: '三年级一班' })).toBeVisible();
    await hydrated(page);
    await page.getByTestId('language').click();
    await expect(page.locator('html')).toHaveAttribute('lang', 'en');
    await page.goto('/');
    await expect(page.getByRole('heading', { name: 'My classes' })).toBeVisible();
  });
});

test.describe('in a browser set to Chinese, refusals', () => {
  test.use({ locale: 'zh-CN' });

  test('come in Chinese: a wrong password, an overdraw with its figures, an amount out of range, an undo made elsewhere first', async ({ page }) => {
    await page.goto('/login');
    await hydrated(page);
    await page.getByLabel(CHINESE_LABELS.username).fill('wang');
    await page.getByLabel(CHINESE_LABELS.password).fill('not-the-password');
    await page.getByTestId('sign-in').click();
    await expect(page.getByRole('alert')).toHaveText('用户名或密码错误');
    await page.getByLabel(CHINESE_LABELS.password).fill('classpoints-demo');
    await page.getByTestId('sign-in').click();
    await expect(page.getByRole('heading', { name: '我的班级' })).toBeVisible();

    // Bring one student to 0 through the API, then deduct a point on the board: the
    // lowest-balance rule (0 by default) refuses, and says so with its figures.
    await openClass(page);
    const card = page.locator('.card').last();
    const studentId = (await card.getAttribute('data-student'))!;
    const balance = Number(await card.locator('.points').textContent());
    const login = await page.request.post('/api/auth/login', {
      data: { username: 'wang', password: 'classpoints-demo' },
    });
    const { token } = await login.json();
    for (const points_change of [1, -(balance + 1)]) {
      const written = await page.request.post('/api/points', {
        headers: { Authorization: `Bearer ${token}` },
        data: { student_id: studentId, points_change, reason: '测试' },
      });
      expect(written.status()).toBe(201);
    }
    await expect(card.locator('.points')).toHaveText('0');
    await expect(card).toHaveAttribute('aria-label', /，0 分$/);
    await card.click();
    await page.getByRole('dialog').getByRole('button', { name: '-1 迟到' }).click();
    await expect(page.getByRole('alert')).toHaveText('积分将降至 -1，低于允许的下限 0');
    await expect(card.locator('.points')).toHaveText('0');

    // A custom amount past what any rule allows: the field and its bounds, in Chinese.
    await card.click();
    const sheet = page.getByRole('dialog');
    await sheet.getByTestId('custom-points').fill('2000000');
    await sheet.getByRole('button', { name: '发放', exact: true }).click();
    await expect(sheet).toHaveCount(0);
    await expect(page.getByRole('alert')).toHaveText(
      '「积分」（points_change）有误：须在 -1000000 到 1000000 之间',
    );
    await expect(card.locator('.points')).toHaveText('0');

    // The student's history names the kinds of change in Chinese too.
    await page.goto(`/student/${studentId}`);
    const newest = page.locator('tr[data-transaction]');
    await expect(newest.nth(0)).toContainText('扣分');
    await expect(newest.nth(1)).toContainText('加分');

    // Undone meanwhile elsewhere (here through the API), then undone on this page, which
    // still offers it: refused in Chinese, and the reloaded history shows it undone.
    await hydrated(page);
    const deduction = (await newest.nth(0).getAttribute('data-transaction'))!;
    const undone = await page.request.post(`/api/points/${deduction}/reverse`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(undone.status()).toBe(201);
    await newest.nth(0).getByTestId('undo-row').click();
    await expect(page.getByTestId('undo-error')).toHaveText('这条记录已经撤销过了');
    await expect(page.locator(`tr.reversed[data-transaction="${deduction}"]`)).toBeVisible();
  });
});

test.describe('in a browser set to Chinese, an admin', () => {
  test.use({ locale: 'zh-CN' });

  test("is told in Chinese what is wrong: a mistyped link, a number that is not whole, a roster file without its columns", async ({ page }) => {
    await signInAdmin(page, CHINESE_LABELS);

    // A board link cut short: the page says which part of the address is wrong.
    await page.goto('/class/3a');
    await expect(page.getByRole('alert')).toHaveText(
      '「班级」（class_id）有误：须为 15 位小写字母或数字组成的编号',
    );

    // A number the browser takes but that is not written as a whole number (1e3): refused
    // before anything is sent.
    await page.goto('/admin/rules');
    await hydrated(page);
    const form = page.getByTestId('rules-form');
    await form.getByTestId('max_abs_change').fill('1e3');
    await form.getByTestId('save-rules').click();
    await expect(form.getByTestId('outcome-error')).toHaveText('「单次最大分值」（max_abs_change）有误：须为整数');

    // A roster file whose header names neither a class nor a name column.
    await page.goto('/admin/classes');
    await hydrated(page);
    await page.getByTestId('roster-csv').fill('klasse,nom\n四年级二班,周五');
    await page.getByTestId('preview-roster').click();
    await expect(page.getByRole('alert')).toHaveText(
      '「csv」有误：表头须包含班级列（class 或 班级）和姓名列（name 或 姓名）',
    );
  });
});

test('an English browser gets English', async ({ page }) => {
  await page.goto('/login');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
});
