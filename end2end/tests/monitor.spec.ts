import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { signInAdmin, hydrated, schoolClock, sqlite } from './helpers';

/** Parses /metrics with Prometheus's reference OpenMetrics parser; throws on invalid text. */
function parseMetrics(text: string): any[] {
  const json = execFileSync('.venv/bin/python', ['tools/parse_metrics.py'], { input: text, encoding: 'utf8' });
  return JSON.parse(json);
}

test('a balance corrupted with sqlite3 shows as unhealthy with its student; Auto-fix repairs it, logs it and the drift raises an alert', async ({ page }) => {
  await signInAdmin(page);
  await page.getByTestId('nav-admin').click();
  await expect(page.getByRole('heading', { name: 'Consistency monitor' })).toBeVisible();
  await hydrated(page);
  await expect(page.getByTestId('health')).toHaveAttribute('data-status', 'healthy');
  await expect(page.getByTestId('monitor-settings')).toContainText('Background check every 2 s;');

  const [id, name, points] = sqlite(
    "SELECT s.id, s.name, sp.points FROM students s JOIN student_points sp ON sp.student_id = s.id ORDER BY s.name LIMIT 1",
  ).split('|');
  sqlite(`UPDATE student_points SET points = points + 7 WHERE student_id = '${id}'`);

  // The page follows the monitor's live events; a check shows the drift without a reload.
  await page.getByTestId('check-now').click();
  await expect(page.getByTestId('health')).toHaveAttribute('data-status', 'unhealthy');
  const row = page.getByTestId('inconsistent').locator(`tr[data-student="${id}"]`);
  await expect(row).toContainText(name);
  await expect(row).toContainText(String(Number(points)));
  await expect(row).toContainText(String(Number(points) + 7));
  await expect(row).toContainText('+7');
  await expect(page.getByTestId('open-alerts').locator('[data-kind="inconsistency"]')).toBeVisible();

  await page.getByTestId('auto-fix').click();
  await expect(page.getByTestId('outcome')).toContainText('1');
  await expect(page.getByTestId('health')).toHaveAttribute('data-status', 'healthy');
  await expect(page.getByTestId('all-consistent')).toBeVisible();
  const repair = page.getByTestId('repairs').locator(`tr[data-student="${id}"]`).first();
  await expect(repair).toContainText(`${Number(points) + 7} → ${points}`);
  await expect(repair).toContainText('管理员');
  expect(sqlite(`SELECT points FROM student_points WHERE student_id = '${id}'`)).toBe(points);
  // Times read as the school's clock, and the page says which.
  const repaired = repair.locator('time');
  await expect(repaired).toHaveText(schoolClock((await repaired.getAttribute('datetime'))!));
  await expect(page.getByTestId('times-zone')).toContainText('UTC+08:00');

  // The alert was recorded; the background monitor resolves it once a run finds no drift.
  await expect(page.getByTestId('recent-alerts').locator('[data-kind="inconsistency"]').first()).toBeVisible();
  await expect(page.getByTestId('no-alerts')).toBeVisible({ timeout: 10_000 });
});

test('/metrics parses as Prometheus text and counts the requests made', async ({ request }) => {
  const count = async () => {
    const families = parseMetrics(await (await request.get('/metrics')).text());
    const requests = families.find((f) => f.name === 'classpoints_http_requests');
    expect(requests, 'classpoints_http_requests is exported').toBeTruthy();
    expect(requests.type).toBe('counter');
    const healthz = requests.samples.find(
      (s: any) => s.labels.route === '/healthz' && s.labels.method === 'GET' && s.labels.status === '200',
    );
    return { families, healthz: healthz ? Number(healthz.value) : 0 };
  };
  const before = await count();
  for (let i = 0; i < 5; i++) expect((await request.get('/healthz')).ok()).toBe(true);
  const after = await count();
  expect(after.healthz - before.healthz).toBe(5);
  const types = Object.fromEntries(after.families.map((f: any) => [f.name, f.type]));
  expect(types).toMatchObject({
    classpoints_http_request_duration_seconds: 'histogram',
    classpoints_writer_group_size: 'histogram',
    classpoints_writer_queue_depth: 'gauge',
    classpoints_consistency_rate_percent: 'gauge',
    classpoints_consistency_check_duration_seconds: 'gauge',
    classpoints_ledger_rows_written: 'counter',
  });
});
