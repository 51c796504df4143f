// The chapter in the browser: apply the kubia Service and ReplicationController from the
// template, watch three ready endpoints appear, send requests and see which pods answer, watch a
// deleted pod leave and its replacement join, see a bad manifest refused, and see a readiness
// probe decide which pods are endpoints.
import { test, expect } from '@playwright/test';
import { goTo } from './helpers';

test('kubia behind a ClusterIP service, live', async ({ page, request }) => {
  await page.goto('/');
  await expect(page.getByRole('status')).toContainText('live');

  await page.getByRole('button', { name: /Template: kubia Service/ }).click();
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
  const lines = run.getByRole('list', { name: 'Requests' }).locator(':scope > li');
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

  // At 1280×720 the services table keeps NAME in view, however far it is scrolled sideways.
  await page.setViewportSize({ width: 1280, height: 720 });
  const wrap = page.locator('.table-wrap:has(table[aria-label="Services"])');
  const nameHeader = page.locator('table[aria-label="Services"] thead th').first();
  const nameCell = row.locator('td').first();
  for (const scroll of [0, 100_000]) {
    await wrap.evaluate((el, left) => { el.scrollLeft = left; }, scroll);
    const box = (await wrap.boundingBox())!;
    for (const cell of [nameHeader, nameCell]) {
      const b = (await cell.boundingBox())!;
      expect(b.x, `NAME at scrollLeft ${scroll}`).toBeGreaterThanOrEqual(box.x - 1);
      expect(b.x + b.width).toBeLessThanOrEqual(box.x + box.width + 1);
    }
  }
  await expect(nameCell).toContainText('kubia');
  await wrap.evaluate((el) => { el.scrollLeft = 0; });

  // The service's name leads to its own page, which has a URL: reload keeps it, back leaves it.
  await nameCell.getByRole('link', { name: 'kubia' }).click();
  await expect(page).toHaveURL(/\/services\/default\/kubia$/);
  const servicePage = page.getByTestId('service-page');
  await expect(servicePage.getByRole('heading', { name: 'Service kubia', exact: true })).toBeVisible();
  await expect(servicePage.locator('tr[data-service="kubia"] .endpoint.ready')).toHaveCount(3);
  await expect(servicePage.getByTestId('describe')).toContainText('kubectl describe service kubia -n default');
  await expect(servicePage.getByTestId('describe')).toContainText('Endpoints:');
  // Its doctor has run; each pod is a ready endpoint, and a test request's histogram names them.
  await expect(servicePage.getByTestId('doctor').locator('[data-worst]')).toHaveAttribute('data-worst', /ok|info/);
  await expect(servicePage.getByTestId('endpoints').locator('tr[data-standing="ready"]')).toHaveCount(3);
  await servicePage.locator('tr[data-service="kubia"]').getByRole('button', { name: 'Send 10 requests' }).click();
  const pageRun = servicePage.getByTestId('test-results');
  await expect(pageRun.getByRole('list', { name: 'Requests' }).locator(':scope > li')).toHaveCount(10);
  for (const pod of await pageRun.getByRole('list', { name: 'Which pod answered' }).locator('li').evaluateAll(
    (items) => items.map((li) => li.getAttribute('data-pod')),
  )) expect(endpointPods).toContain(pod);
  await page.reload();
  await expect(page.getByTestId('service-page').locator('tr[data-service="kubia"] .endpoint.ready')).toHaveCount(3);
  await page.screenshot({ path: 'test-results/service-page.png', fullPage: true });
  await page.goBack();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.locator('table[aria-label="Pods"]')).toBeVisible();
  // A link to a service that is not there says so.
  await page.goto('/services/default/no-such-service');
  await expect(page.getByTestId('service-page')).toContainText('services "no-such-service" not found');
  await page.goto('/');
  await expect(page.getByRole('status')).toContainText('live');

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
  await expect(failed).toContainText('line 6, column 10');
  await page.screenshot({ path: 'test-results/bad-manifest.png', fullPage: true });

  const after = await (await request.get('/api/v1/services')).json();
  expect(after.items.map((s: any) => s.metadata.name)).toEqual(before.items.map((s: any) => s.metadata.name));
  await expect(page.locator('tr[data-service="broken"]')).toHaveCount(0);
});

// Section 5.5: a readiness probe keeps pods out of the service until it passes; making one pod
// ready from a shell puts only it into the endpoints, live, and nothing restarts.
test('readiness probes decide which pods are endpoints', async ({ page, request }) => {
  await page.goto('/');
  await expect(page.getByRole('status')).toContainText('live');
  const manifest = `apiVersion: v1
kind: Service
metadata:
  name: kubia-rp
spec:
  ports:
  - port: 80
    targetPort: 8080
  selector:
    app: kubia-rp
---
apiVersion: v1
kind: ReplicationController
metadata:
  name: kubia-rp
spec:
  replicas: 2
  selector:
    app: kubia-rp
  template:
    metadata:
      labels:
        app: kubia-rp
    spec:
      containers:
      - name: kubia
        image: luksa/kubia
        readinessProbe:
          periodSeconds: 1
          exec:
            command: [ls, /var/ready]
`;
  await page.locator('#manifest').fill(manifest);
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  await expect(page.getByTestId('apply-results')).toContainText('replicationcontroller/kubia-rp created');

  const pods = page.locator('table[aria-label="Pods"] tbody tr[data-pod^="kubia-rp-"]');
  await expect(pods).toHaveCount(2);
  for (const row of await pods.all()) {
    await expect(row.locator('td').nth(1)).toHaveText('0/1');
    await expect(row.locator('td').nth(2)).toHaveText('Running');
  }
  const service = page.locator('tr[data-service="kubia-rp"]');
  await expect(service.locator('.endpoint')).toHaveCount(2);
  await expect(service.locator('.endpoint.ready')).toHaveCount(0);
  // On the overview: two not-ready edges from the service, no ready one.
  const edges = page.locator('svg.topology path.edge[data-from="service:default/kubia-rp"]');
  await expect(edges.and(page.locator('.not-ready'))).toHaveCount(2);
  await expect(edges.and(page.locator('.ready'))).toHaveCount(0);

  // The readiness toggle runs `kubectl exec <pod> -- touch /var/ready`: only that pod turns
  // ready (through the real probe) and becomes an endpoint.
  const chosen = (await pods.first().getAttribute('data-pod'))!;
  const chosenRow = page.locator(`tr[data-pod="${chosen}"]`);
  await expect(chosenRow.locator('.probe-command')).toHaveText('touch /var/ready');
  await chosenRow.getByRole('button', { name: 'Make ready' }).click();
  await expect(chosenRow.locator('td').nth(1)).toHaveText('1/1');
  await expect(service.locator('.endpoint.ready')).toHaveCount(1);
  await expect(service.locator('.endpoint.ready .pod')).toHaveText(chosen);
  await expect(page.locator(`svg.topology path.edge.ready[data-from="service:default/kubia-rp"][data-to="pod:default/${chosen}"]`)).toHaveCount(1);
  await page.screenshot({ path: 'test-results/readiness-toggled.png', fullPage: true });

  // Toggled back (`rm -f /var/ready`): out again after three failed probes; no restart.
  await chosenRow.getByRole('button', { name: 'Make unready' }).click();
  await expect(service.locator('.endpoint.ready')).toHaveCount(0);
  await expect(chosenRow.locator('td').nth(1)).toHaveText('0/1');
  await expect(chosenRow.locator('td').nth(3)).toHaveText('0');
  const touched = await request.get(`/api/v1/namespaces/default/pods/${chosen}`);
  expect((await touched.json()).status.containerStatuses[0].restartCount).toBe(0);
});

test('the chapter ingress routes kubia.example.com, with requests sent through it from the dashboard', async ({ page, request }) => {
  await page.goto('/');
  await expect(page.getByRole('status')).toContainText('live');
  await page.getByRole('button', { name: /Template: kubia Service/ }).click();
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  await expect(page.getByTestId('apply-results')).toContainText('replicationcontroller/kubia');

  await page.getByRole('button', { name: /Template: kubia NodePort \+ Ingress/ }).click();
  await expect(page.locator('#manifest')).toHaveValue(/apiVersion: extensions\/v1beta1/);
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  await expect(page.getByTestId('apply-results')).toContainText('ingress.networking.k8s.io/kubia created');

  await expect(page.locator('tr[data-service="kubia-nodeport"] .endpoint.ready')).toHaveCount(3);

  // kubectl get ingress: the class the admission gave it, its host, the controller's address.
  await goTo(page, 'Ingresses');
  const row = page.locator('tr[data-ingress="kubia"]');
  await expect(row).toContainText('nginx');
  await expect(row).toContainText('kubia.example.com');
  await expect(row).toContainText('127.0.0.1');
  await expect(row).toContainText('kubia.example.com/ (ImplementationSpecific) → kubia-nodeport:80');

  await row.getByRole('button', { name: 'Send 10 to http://kubia.example.com/' }).click();
  const run = page.getByTestId('test-results').filter({ hasText: 'http://kubia.example.com/' });
  await expect(run).toContainText('from outside the cluster');
  const lines = run.getByRole('list', { name: 'Requests' }).locator(':scope > li');
  await expect(lines).toHaveCount(10);
  const pods = new Set<string>();
  for (const text of await lines.allTextContents()) {
    const answered = /You've hit (kubia-[a-z0-9]{5})/.exec(text);
    expect(answered, text).not.toBeNull();
    expect(text).toContain('round-robin over 3 ready endpoints');
    pods.add(answered![1]);
  }
  expect(pods.size).toBe(3);
  await page.screenshot({ path: 'test-results/kubia-ingress.png', fullPage: true });

  // The ingress's page: its row, and the service it routes to with its ready endpoints.
  await row.getByRole('link', { name: 'kubia' }).click();
  await expect(page).toHaveURL(/\/ingresses\/default\/kubia$/);
  const ingressPage = page.getByTestId('ingress-page');
  await expect(ingressPage.locator('li[data-service="kubia-nodeport"]')).toContainText('3 ready endpoints');
  await ingressPage.locator('li[data-service="kubia-nodeport"]').getByRole('link').click();
  await expect(page).toHaveURL(/\/services\/default\/kubia-nodeport$/);
  await page.screenshot({ path: 'test-results/ingress-page.png', fullPage: true });
});
