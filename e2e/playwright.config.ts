// End-to-end tests against a real svclab serving the built dashboard, in Debian's chromium.
// `cargo xtask e2e` builds everything, picks a free port and runs these.
import { defineConfig } from '@playwright/test';

const port = Number(process.env.SVCLAB_E2E_PORT ?? 7171);
const binary = process.env.SVCLAB_BIN ?? '../target/debug/svclab';
const tokenPort = Number(process.env.SVCLAB_E2E_TOKEN_PORT ?? 7172);
const tokenFile = process.env.SVCLAB_E2E_TOKEN_FILE ?? '../target/e2e/token';

export default defineConfig({
  testDir: './tests',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: 'list',
  outputDir: 'test-results',
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--disable-sync',
      ],
    },
  },
  webServer: [
    {
      command: `${binary} --listen 127.0.0.1:${port} --dns 127.0.0.1:0 --ingress-http 127.0.0.1:0 --ingress-https 127.0.0.1:0 --no-kubeconfig --ephemeral --dashboard ../frontend/dist`,
      url: `http://127.0.0.1:${port}/healthz`,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: 'pipe',
      stderr: 'pipe',
    },
    {
      // One that needs a token, as svclab does beyond loopback, serving the dashboard built into
      // the binary (tests/token.spec.ts).
      command: `${binary} --listen 127.0.0.1:${tokenPort} --token-file ${tokenFile} --no-ingress --dns 127.0.0.1:0 --no-kubeconfig --ephemeral`,
      url: `http://127.0.0.1:${tokenPort}/healthz`,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: 'pipe',
      stderr: 'pipe',
    },
  ],
});
