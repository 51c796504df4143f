// A svclab that needs a token (as it does when it listens beyond loopback): the dashboard asks for
// it once, keeps it for the tab, and then works as usual; the API refuses calls without it.
import { test, expect } from '@playwright/test';

const tokenPort = Number(process.env.SVCLAB_E2E_TOKEN_PORT ?? 7172);
const base = `http://127.0.0.1:${tokenPort}`;
const token = 'e2e-token-5f1c2a';

test('the dashboard asks for the token once and then runs live', async ({ page, request }) => {
  const refused = await request.get(`${base}/api/v1/namespaces/default/services`);
  expect(refused.status()).toBe(401);
  expect((await refused.json()).reason).toBe('Unauthorized');

  await page.goto(`${base}/`);
  const prompt = page.getByRole('dialog', { name: 'API token' });
  await expect(prompt).toBeVisible();
  await page.screenshot({ path: 'test-results/token-prompt.png' });
  await prompt.getByLabel('token').fill('wrong-token');
  await prompt.getByRole('button', { name: 'Use token' }).click();
  // A wrong token is asked for again.
  await expect(page.getByRole('dialog', { name: 'API token' })).toBeVisible();

  await page.getByRole('dialog', { name: 'API token' }).getByLabel('token').fill(token);
  await page.getByRole('dialog', { name: 'API token' }).getByRole('button', { name: 'Use token' }).click();
  await expect(page.getByRole('status')).toContainText('live');
  await expect(page.getByRole('dialog', { name: 'API token' })).toHaveCount(0);
  await expect(page.locator('tr[data-service="kubernetes"]')).toHaveCount(1);

  // Reloading keeps it for the tab: no second prompt.
  await page.reload();
  await expect(page.getByRole('status')).toContainText('live');
  await expect(page.getByRole('dialog', { name: 'API token' })).toHaveCount(0);
});

test('the dashboard is built into the binary and served precompressed', async ({ request }) => {
  // This svclab has no --dashboard: what it serves is what the build embedded.
  const index = await request.get(`${base}/`, { headers: { 'accept-encoding': 'br' } });
  expect(index.status()).toBe(200);
  expect(index.headers()['content-encoding']).toBe('br');
  expect(index.headers()['cache-control']).toBe('no-cache');
  expect(index.headers()['vary']).toBe('accept-encoding');
  const html = await index.text();
  const wasm = html.match(/["'](\/[^"']+_bg\.wasm)["']/)?.[1];
  expect(wasm, html).toBeTruthy();
  const gz = await request.get(`${base}${wasm}`, { headers: { 'accept-encoding': 'gzip' } });
  expect(gz.status()).toBe(200);
  expect(gz.headers()['content-encoding']).toBe('gzip');
  expect(gz.headers()['content-type']).toBe('application/wasm');
  expect(gz.headers()['cache-control']).toContain('immutable');
  const plain = await request.get(`${base}${wasm}`, { headers: { 'accept-encoding': 'identity' } });
  expect(plain.headers()['content-encoding']).toBeUndefined();
  expect((await plain.body()).subarray(0, 4)).toEqual(Buffer.from([0, 0x61, 0x73, 0x6d]));
  // A route of the dashboard's own is its page.
  const deep = await request.get(`${base}/services/default/kubia`);
  expect(deep.status()).toBe(200);
  expect(await deep.text()).toContain('<html');
});
