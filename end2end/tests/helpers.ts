import { expect, Page } from '@playwright/test';

// The test server starts on an empty database, so the demo school is there:
// teachers wang and li (password classpoints-demo); wang teaches 三年级一班.
export async function signIn(page: Page, username = 'wang', password = 'classpoints-demo') {
  await page.goto('/login');
  await expect(page.locator('main[data-hydrated="true"]')).toBeAttached();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByTestId('sign-in').click();
  await expect(page.getByRole('heading', { name: 'My classes' })).toBeVisible();
}

export async function openClass(page: Page, name = '三年级一班') {
  await page.getByRole('link', { name: new RegExp(name) }).click();
  await expect(page.getByRole('heading', { name })).toBeVisible();
  await expect(page.locator('main[data-hydrated="true"]')).toBeAttached();
}
