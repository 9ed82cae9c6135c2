import { test, expect } from '@playwright/test';
import { hydrated } from './helpers';

test.describe('in a browser set to Chinese', () => {
  test.use({ locale: 'zh-CN' });

  test('pages come in Chinese and can be switched to English and back', async ({ page }) => {
    await page.goto('/login');
    await hydrated(page);
    await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
    await expect(page.getByRole('heading', { name: '登录' })).toBeVisible();
    await page.getByLabel('用户名').fill('wang');
    await page.getByLabel('密码').fill('classpoints-demo');
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

test('an English browser gets English', async ({ page }) => {
  await page.goto('/login');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
});
