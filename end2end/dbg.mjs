import { chromium } from '@playwright/test';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox','--disable-gpu'] });
for (let i = 0; i < 6; i++) {
  const page = await browser.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  const t0 = Date.now(); await page.goto('http://127.0.0.1:3200/login');
  try {
    await page.locator('main[data-hydrated="true"]').waitFor({ state: 'attached', timeout: 5000 });
    console.log(i, 'hydrated', Date.now() - t0, 'ms');
  } catch { console.log(i, 'NOT hydrated', logs.slice(0, 5).join('\n')); }
  await page.close();
}
await browser.close();
