// The manifest editor: a bad manifest's error is marked at its line in the editor, an uploaded
// file with an error is refused with its name, line and column and stores nothing, several
// files upload at once, Delete removes what the manifests name, and Dry run shows what an apply
// would change without changing it.
import { test, expect } from '@playwright/test';

const GOOD = `apiVersion: v1
kind: Service
metadata:
  name: uploaded-a
spec:
  ports:
  - port: 80
`;

test('errors are marked at their line, uploads apply files, and Delete removes their objects', async ({ page, request }) => {
  await page.goto('/');
  await expect(page.getByRole('status')).toContainText('live');

  // Typed in the editor: the error line is marked in place, with the message.
  await page.locator('#manifest').fill('apiVersion: v1\nkind: Service\nmetadata:\n  name: marked\nspec:\n  ports:\n  - port: 0\n');
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  await expect(page.getByTestId('apply-results').locator('li.failed')).toContainText('spec.ports[0].port: Invalid value: 0');
  const marked = page.locator('.editor .line.error-line');
  await expect(marked).toHaveCount(1);
  await expect(marked.locator('.ln')).toHaveText('7');
  await expect(marked.locator('.inline-error')).toContainText('must be between 1 and 65535');
  await expect(page.locator('.editor .line').nth(1).locator('.k')).toHaveText('kind');
  await page.screenshot({ path: 'test-results/editor-inline-error.png', fullPage: true });

  // An uploaded file with a syntax error: refused with the file's name and position; nothing stored.
  const before = (await (await request.get('/api/v1/services')).json()).items.length;
  await page.locator('#manifest-files').setInputFiles({
    name: 'broken.yaml', mimeType: 'application/yaml',
    buffer: Buffer.from('apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\nspec:\n  ports: [\n'),
  });
  const failed = page.getByTestId('apply-results').locator('li.failed');
  await expect(failed).toContainText('broken.yaml: document 1 — line 6, column 10');
  expect((await (await request.get('/api/v1/services')).json()).items.length).toBe(before);

  // Two files at once: each applied, each named.
  await page.locator('#manifest-files').setInputFiles([
    { name: 'a.yaml', mimeType: 'application/yaml', buffer: Buffer.from(GOOD) },
    { name: 'b.yaml', mimeType: 'application/yaml', buffer: Buffer.from(GOOD.replace('uploaded-a', 'uploaded-b')) },
  ]);
  const results = page.getByTestId('apply-results');
  await expect(results).toContainText('a.yaml: service/uploaded-a created');
  await expect(results).toContainText('b.yaml: service/uploaded-b created');
  await expect(page.locator('tr[data-service="uploaded-b"]')).toHaveCount(1);

  // From the keyboard alone: type in the editor and apply with Ctrl+Enter.
  await page.locator('#manifest').focus();
  await page.keyboard.press('Control+a');
  await page.keyboard.insertText(GOOD.replace('uploaded-a', 'typed'));
  await page.keyboard.press('Control+Enter');
  await expect(results).toContainText('service/typed created');

  // Delete, as kubectl delete -f: the service leaves the table.
  await page.locator('#manifest').fill(GOOD);
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await expect(results).toContainText('service "uploaded-a" deleted');
  await expect(page.locator('tr[data-service="uploaded-a"]')).toHaveCount(0);
  await expect(page.locator('tr[data-service="uploaded-b"]')).toHaveCount(1);

  // Dry run, as kubectl diff: what applying would change, and nothing changes.
  await page.locator('#manifest').fill(GOOD.replace('uploaded-a', 'uploaded-b').replace('port: 80', 'port: 81'));
  await page.getByRole('button', { name: 'Dry run', exact: true }).click();
  await expect(results).toContainText('service/uploaded-b configured (server dry run)');
  const diff = results.getByTestId('diff');
  await expect(diff.locator('.del').filter({ hasText: '- port: 80' })).toHaveCount(1);
  await expect(diff.locator('.add').filter({ hasText: '- port: 81' })).toHaveCount(1);
  const stored = await (await request.get('/api/v1/namespaces/default/services/uploaded-b')).json();
  expect(stored.spec.ports[0].port).toBe(80);
  await page.locator('#manifest').fill(GOOD.replace('uploaded-a', 'dry'));
  await page.getByRole('button', { name: 'Dry run', exact: true }).click();
  await expect(results).toContainText('service/dry created (server dry run)');
  await expect(results.getByTestId('diff')).toContainText('+  name: dry');
  expect((await request.get('/api/v1/namespaces/default/services/dry')).status()).toBe(404);
});
