import { defineConfig } from '@playwright/test';

// The suite starts the built server itself, on its own port and with a fresh database file,
// so it never touches a developer's data/ and never collides with `make run` on :3000.
const port = Number(process.env.E2E_PORT ?? 3100);
// The release build, as `make test` builds it (`make run` serves the same).
const serverBin = process.env.E2E_SERVER_BIN ?? 'target/release/classpoints';

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 5_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      // The machine has no route to the internet: keep Chromium from trying.
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  projects: [{ name: 'chromium', use: { browserName: 'chromium' } }],
  webServer: {
    command: `rm -rf target/e2e && exec ${serverBin} serve`,
    cwd: '..',
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe',
    stderr: 'pipe',
    env: {
      DATABASE_URL: 'sqlite://target/e2e/classpoints.db',
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: 'target/site',
      LEPTOS_SITE_PKG_DIR: 'pkg',
      LEPTOS_OUTPUT_NAME: 'classpoints',
      RUST_LOG: 'warn',
      // Live streams end after 2 s (browsers reconnect and resync), so tests can drop them.
      CLASSPOINTS_LIVE_MAX_SECONDS: '2',
      // The background monitor checks every 2 s and only reports: the monitor tests repair
      // drift themselves, with the Auto-fix button.
      CLASSPOINTS_MONITOR_INTERVAL_SECONDS: '2',
      CLASSPOINTS_AUTO_FIX: 'false',
    },
  },
});
