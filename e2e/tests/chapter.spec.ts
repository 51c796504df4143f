// The chapter's first steps, in the browser: apply the kubia Service and ReplicationController
// from the template, watch three ready endpoints appear, send requests and see which pods answer,
// watch a deleted pod leave and its replacement join, and see a bad manifest refused.
import { test, expect } from '@playwright/test';

test('kubia behind a ClusterIP service, live', async ({ page, request }) => {
  await page.goto('/');
  await expect(page.getByRole('status')).toContainText('live');

  await page.getByRole('button', { name: /Template: kubia/ }).click();
  await expect(page.locator('#manifest')).toHaveValue(/kind: ReplicationController/);
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  const results = page.getByTestId('apply-results');
  await expect(results).toContainText('service/kubia created');
  await expect(results).toContainText('replicationcontroller/kubia created');

  const row = page.locator('tr[data-service="kubia"]');
  const ready = row.locator('.endpoint.ready');
  await expect(ready).toHaveCount(3);
  await expect(page.locator('table[aria-label="Pods"] tbody tr')).toHaveCount(3);
  await page.screenshot({ path: 'test-results/kubia-ready.png', fullPage: true });

  const endpointPods = (await row.locator('.endpoint.ready .pod').allTextContents()).sort();
  expect(endpointPods.every((p) => /^kubia-[a-z0-9]{5}$/.test(p))).toBe(true);

  // Ten requests from a pod: every one answered by one of the endpoint pods, named in the trace.
  await row.getByRole('button', { name: 'Send 10 requests' }).click();
  const run = page.getByTestId('test-results');
  const lines = run.getByRole('list', { name: 'Requests' }).locator('li');
  await expect(lines).toHaveCount(10);
  for (const text of await lines.allTextContents()) {
    const answered = /You've hit (kubia-[a-z0-9]{5})/.exec(text);
    expect(answered, text).not.toBeNull();
    expect(endpointPods).toContain(answered![1]);
    expect(text).toContain(`(${answered![1]})`);
  }
  const histogram = await run.getByRole('list', { name: 'Which pod answered' }).locator('li').evaluateAll(
    (items) => items.map((li) => li.getAttribute('data-pod')),
  );
  expect(histogram.length).toBeGreaterThan(0);
  await page.screenshot({ path: 'test-results/kubia-requests.png', fullPage: true });

  // Delete a pod behind the UI's back: it leaves the endpoints and a replacement joins, live.
  const victim = endpointPods[0];
  const deleted = await request.delete(`/api/v1/namespaces/default/pods/${victim}`);
  expect(deleted.ok()).toBe(true);
  await expect(row.locator('.endpoint .pod', { hasText: victim })).toHaveCount(0);
  await expect(ready).toHaveCount(3);
  await expect(page.locator(`tr[data-pod="${victim}"]`)).toHaveCount(0);
  await expect(page.locator('table[aria-label="Pods"] tbody tr')).toHaveCount(3);
});

test('a malformed manifest shows a located error and changes nothing', async ({ page, request }) => {
  await page.goto('/');
  await expect(page.getByRole('status')).toContainText('live');
  const before = await (await request.get('/api/v1/services')).json();

  await page.locator('#manifest').fill('apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\nspec:\n  ports: [\n');
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  const failed = page.getByTestId('apply-results').locator('li.failed');
  await expect(failed).toContainText('line 7, column 1');
  await page.screenshot({ path: 'test-results/bad-manifest.png', fullPage: true });

  const after = await (await request.get('/api/v1/services')).json();
  expect(after.items.map((s: any) => s.metadata.name)).toEqual(before.items.map((s: any) => s.metadata.name));
  await expect(page.locator('tr[data-service="broken"]')).toHaveCount(0);
});
