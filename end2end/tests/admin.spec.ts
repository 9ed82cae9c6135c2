import { test, expect, Page } from '@playwright/test';
import { signInAdmin, expectNoViolations, hydrated, holdBack } from './helpers';


async function open(page: Page, path: string) {
  await page.goto(path);
  await hydrated(page);
}


test('roster CSV import previews a bad line with its reason, then imports the rest', async ({ page }) => {
  await signInAdmin(page);
  await open(page, '/admin/classes');
  const csv = [
    'class,name,student_no',
    '四年级一班,赵一,401',
    '四年级一班,,402', // no name
    '四年级一班,钱二,403',
    '四年级一班,孙三,401', // number taken by line 2
  ].join('\n');
  await page.getByTestId('roster-csv').fill(csv);
  await page.getByTestId('preview-roster').click();
  const preview = page.getByTestId('roster-preview');
  await expect(preview.getByTestId('preview-rows').locator('tbody tr')).toHaveCount(2);
  await expect(preview.getByTestId('refused-rows').locator('tr[data-line="3"]')).toContainText('name');
  // A refused line shows whom it is about and the value that clashed.
  const taken = preview.getByTestId('refused-rows').locator('tr[data-line="5"]');
  await expect(taken).toContainText('another student in this class has that number');
  await expect(taken).toContainText('孙三');
  await expect(taken).toContainText('401');
  await expect(preview).toContainText('四年级一班');
  // A preview writes nothing.
  await expect(page.getByTestId('classes')).not.toContainText('四年级一班');

  await page.getByTestId('import-roster').click();
  const report = page.getByTestId('import-report');
  await expect(report).toContainText('2');
  await expect(report.getByTestId('refused-rows').locator('tbody tr')).toHaveCount(2);
  const classRow = page.getByTestId('classes').locator('tr', { hasText: '四年级一班' });
  await expect(classRow).toBeVisible();
  await classRow.getByRole('link').click();
  await expect(page.getByRole('heading', { name: '四年级一班' })).toBeVisible();
  await expect(page.getByTestId('students').locator('tbody tr')).toHaveCount(2);
  await expect(page.getByTestId('students')).toContainText('赵一');
  await expect(page.getByTestId('students')).toContainText('钱二');
});

test('accounts: create a teacher, who can sign in; deactivated, they cannot', async ({ page, browser }) => {
  await signInAdmin(page);
  await open(page, '/admin/accounts');
  const form = page.getByTestId('create-account');
  await form.getByLabel('Username', { exact: true }).fill('zhao');
  await form.getByLabel('Name', { exact: true }).fill('赵老师');
  await form.getByLabel('Password', { exact: true }).fill('zhao-password');
  await form.getByRole('button', { name: 'Create' }).click();
  const row = page.getByTestId('accounts').locator('tr[data-user="zhao"]');
  await expect(row).toContainText('赵老师');

  const other = await browser.newContext();
  const teacher = await other.newPage();
  await teacher.goto('/login');
  await hydrated(teacher);
  await teacher.getByLabel('Username').fill('zhao');
  await teacher.getByLabel('Password').fill('zhao-password');
  await teacher.getByTestId('sign-in').click();
  await expect(teacher.getByRole('heading', { name: 'My classes' })).toBeVisible();
  // A teacher has no admin pages.
  await expect(teacher.getByTestId('nav-admin')).toHaveCount(0);
  await teacher.goto('/admin/monitor');
  await expect(teacher.getByRole('alert')).toContainText('only an admin');

  await row.getByTestId('toggle-active').click();
  await expect(row).toContainText('no');
  await teacher.reload();
  await expect(teacher).toHaveURL(/\/login$/);
  await other.close();
});

test('accounts: an account locked by wrong passwords shows so, and the admin unlocks it', async ({ page, request }) => {
  await signInAdmin(page);
  await open(page, '/admin/accounts');
  const form = page.getByTestId('create-account');
  await form.getByLabel('Username', { exact: true }).fill('qian');
  await form.getByLabel('Name', { exact: true }).fill('钱老师');
  await form.getByLabel('Password', { exact: true }).fill('qian-password');
  await form.getByRole('button', { name: 'Create' }).click();
  const row = page.getByTestId('accounts').locator('tr[data-user="qian"]');
  await expect(row).toContainText('钱老师');
  await expect(row.getByTestId('sign-in-locked')).toHaveCount(0);

  // Someone guesses: five wrong passwords lock the account, even against the right one.
  const login = (password: string) =>
    request.post('/api/auth/login', { data: { username: 'qian', password } });
  for (let i = 0; i < 5; i++) expect((await login('guess-guess')).status()).toBe(401);
  expect((await login('qian-password')).status()).toBe(429);

  await page.reload();
  await hydrated(page);
  await expect(row.getByTestId('sign-in-locked')).toContainText('wrong passwords: 5');
  await row.getByTestId('lift-lock').click();
  await expect(page.getByTestId('outcome')).toContainText('Sign-in unlocked');
  await expect(row.getByTestId('sign-in-locked')).toHaveCount(0);
  expect((await login('qian-password')).status()).toBe(200);
});

test('rules: a bad value is refused naming the field; a good one is saved', async ({ page }) => {
  await signInAdmin(page);
  await open(page, '/admin/rules');
  const form = page.getByTestId('rules-form');
  // The time zone is chosen by name, the school's current one selected.
  const zone = form.getByTestId('utc_offset_minutes');
  await expect(zone).toHaveValue('480');
  await expect(zone.locator('option:checked')).toHaveText('UTC+08:00');
  await form.getByTestId('max_abs_change').fill('0');
  await form.getByTestId('save-rules').click();
  await expect(form.getByTestId('outcome-error')).toContainText('max_abs_change');
  await form.getByTestId('max_abs_change').fill('50');
  await form.getByTestId('daily_award_cap').fill('0');
  await form.getByTestId('save-rules').click();
  await expect(form.getByTestId('outcome-error')).toContainText(
    '(daily_award_cap): must be between 1 and 1000000, or null for none',
  );
  await form.getByTestId('daily_award_cap').fill('');
  await zone.selectOption({ label: 'UTC+05:30' });
  await form.getByTestId('save-rules').click();
  await expect(form.getByTestId('outcome')).toBeVisible();
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('rules-form').getByTestId('max_abs_change')).toHaveValue('50');
  await expect(page.getByTestId('rules-form').getByTestId('utc_offset_minutes')).toHaveValue('330');
  // Back to the defaults, for the other tests.
  await page.getByTestId('rules-form').getByTestId('max_abs_change').fill('1000');
  await page.getByTestId('rules-form').getByTestId('utc_offset_minutes').selectOption('480');
  await page.getByTestId('rules-form').getByTestId('save-rules').click();
  await expect(page.getByTestId('rules-form').getByTestId('outcome')).toBeVisible();
});

test('admin pages have no accessibility violations', async ({ page }) => {
  test.setTimeout(120_000); // six pages, each analysed by axe
  await signInAdmin(page);
  for (const path of ['/admin/monitor', '/admin/accounts', '/admin/classes', '/admin/rules', '/status']) {
    await open(page, path);
    await expect(page.locator('h1')).toBeVisible();
    await expectNoViolations(page);
  }
  await open(page, '/admin/classes');
  await page.getByTestId('classes').getByRole('link').first().click();
  await expect(page.getByTestId('students')).toBeVisible();
  await expectNoViolations(page);
});

test('while a lazily loaded page is on its way after a click, a loading bar shows and the page is busy', async ({ page }) => {
  await signInAdmin(page);
  await hydrated(page);
  // Hold back the monitor's own chunk (the admin pages are lazy routes) until the bar was seen.
  const release = await holdBack(page, /split___monitor_route_view.*\.wasm$/);
  const bar = page.getByTestId('page-loading');
  await expect(bar).toBeHidden();
  await page.getByTestId('nav-admin').click();
  await expect(bar).toBeVisible();
  await expect(page.locator('main')).toHaveAttribute('aria-busy', 'true');
  release();
  await expect(page.getByRole('heading', { name: 'Consistency monitor' })).toBeVisible();
  await expect(bar).toBeHidden();
  await expect(page.locator('main')).toHaveAttribute('aria-busy', 'false');
});
