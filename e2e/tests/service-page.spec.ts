// A service's page and a pod's page: endpoints with their readiness and why, the doctor, test
// requests with the per-pod histogram, the endpoint timeline after toggling readiness twice,
// DNS records, events; a pod's containers, probes and last results, logs and shell.
import { test, expect } from '@playwright/test';
import { apply, open } from './helpers';

const MANIFEST = `apiVersion: v1
kind: Service
metadata:
  name: page-named
spec:
  selector:
    app: page-e2e
  ports:
  - port: 80
    targetPort: web
---
apiVersion: v1
kind: Service
metadata:
  name: page-e2e
spec:
  selector:
    app: page-e2e
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ReplicationController
metadata:
  name: page-e2e
spec:
  replicas: 2
  selector:
    app: page-e2e
  template:
    metadata:
      labels:
        app: page-e2e
    spec:
      containers:
      - name: kubia
        image: luksa/kubia
        ports:
        - containerPort: 8080
        readinessProbe:
          periodSeconds: 1
          exec:
            command: [ls, /var/ready]
`;

test('a service page: endpoints, doctor, test requests, the endpoint timeline, DNS; a pod page', async ({ page }) => {
  await open(page);
  await apply(page, MANIFEST, 'replicationcontroller/page-e2e created');
  await page.goto('/services/default/page-e2e');
  const servicePage = page.getByTestId('service-page');
  const row = servicePage.locator('tr[data-service="page-e2e"]');
  await expect(row.locator('.endpoint.not-ready')).toHaveCount(2);
  // The doctor runs as the page opens: the pods are not ready.
  await expect(servicePage.getByTestId('doctor').locator('li[data-check="readiness"][data-severity="error"]')).toContainText('No matching pod is ready');

  // Each selected pod's standing, and why: not ready, with the probe's message.
  const pod = (await row.locator('.endpoint .pod').first().textContent())!;
  const standingRow = servicePage.getByTestId('endpoints').locator(`tr[data-pod="${pod}"]`);
  await expect(standingRow).toHaveAttribute('data-standing', 'not-ready');
  await expect(standingRow).toContainText('Readiness probe failed');

  // Toggle one pod ready, unready, and ready again from its own page.
  await page.goto(`/pods/default/${pod}`);
  const podPage = page.getByTestId('pod-page');
  const container = podPage.locator('.container-card[data-container="kubia"]');
  await expect(container).toContainText('exec [ls /var/ready] delay=0s timeout=1s period=1s #success=1 #failure=3');
  await expect(container).toContainText('last result: Readiness probe failed');
  const standing = podPage.locator('li[data-service="page-e2e"]');
  await expect(standing).toHaveAttribute('data-standing', 'not-ready');
  const podRow = podPage.locator(`tr[data-pod="${pod}"]`);
  await podRow.getByRole('button', { name: 'Make ready' }).click();
  await expect(standing).toHaveAttribute('data-standing', 'ready');
  await expect(container).toContainText('last result: passing');
  await podRow.getByRole('button', { name: 'Make unready' }).click();
  await expect(standing).toHaveAttribute('data-standing', 'not-ready');
  await podRow.getByRole('button', { name: 'Make ready' }).click();
  await expect(standing).toHaveAttribute('data-standing', 'ready');
  await podPage.getByRole('button', { name: 'Show logs' }).click();
  await expect(podPage.getByTestId('logs')).toContainText('Kubia server starting');
  await expect(page.getByRole('table', { name: 'Events of this object' })).toContainText('Readiness probe failed');
  await page.screenshot({ path: 'test-results/pod-page.png', fullPage: true });

  // A debug container, added as kubectl debug adds it, shows with its own state.
  const patched = await page.request.patch(`/api/v1/namespaces/default/pods/${pod}/ephemeralcontainers`, {
    headers: { 'Content-Type': 'application/strategic-merge-patch+json' },
    data: { spec: { ephemeralContainers: [{ name: 'debugger', image: 'busybox', stdin: true, targetContainerName: 'kubia' }] } },
  });
  expect(patched.ok()).toBeTruthy();
  const ephemeral = podPage.getByTestId('ephemeral-containers');
  await expect(ephemeral.locator('.container-card[data-container="debugger"]')).toContainText('Running');
  await expect(ephemeral).toContainText('Sees the processes of container kubia.');

  // Its shell, one click away.
  await podPage.getByRole('link', { name: 'Open a shell' }).click();
  await expect(page).toHaveURL(new RegExp(`/terminal\\?pod=default/${pod}$`));
  await expect(page.locator('#terminal-pod')).toHaveValue(`default/${pod}`);

  // Back on the service: the timeline shows the pod ready, not ready (with the probe's
  // message), ready again.
  await page.goto('/services/default/page-e2e');
  await expect(standingRow).toHaveAttribute('data-standing', 'ready');
  await expect(standingRow).toContainText('its readiness probe passes');
  const timeline = page.getByTestId('endpoint-timeline');
  const changes = timeline.getByRole('list', { name: 'Endpoint changes' }).locator(`li[data-pod="${pod}"]`);
  await expect(changes.and(page.locator('[data-state="ready"]'))).toHaveCount(2);
  await expect(changes.and(page.locator('[data-state="not-ready"]'))).toHaveCount(2);
  await expect(changes.first()).toContainText('readiness probe succeeded');
  await expect(changes.nth(1)).toContainText('Readiness probe failed');
  await expect(timeline.locator(`.lane[data-pod="${pod}"] .segment.ready`)).toHaveCount(2);
  await expect(timeline.locator(`.lane[data-pod="${pod}"] .segment.not-ready`)).toHaveCount(2);

  // Test requests from the page: every one answered by the one ready pod, in the histogram.
  await row.getByRole('button', { name: 'Send 10 requests' }).click();
  const run = servicePage.getByTestId('test-results');
  await expect(run.getByRole('list', { name: 'Requests' }).locator(':scope > li')).toHaveCount(10);
  const histogram = run.getByRole('list', { name: 'Which pod answered' }).locator('li');
  await expect(histogram).toHaveCount(1);
  await expect(histogram.first()).toHaveAttribute('data-pod', pod);

  // Its DNS records as the cluster DNS answers them: A, the named port's SRV, the PTR.
  const records = page.getByTestId('dns-records');
  await expect(records.locator('li[data-type="A"]')).toContainText('page-e2e.default.svc.cluster.local');
  await expect(records.locator('li[data-type="SRV"]')).toContainText('_http._tcp.page-e2e.default.svc.cluster.local');
  await expect(records.locator('li[data-type="SRV"]')).toContainText('IN SRV');
  await expect(records.locator('li[data-type="PTR"]')).toContainText('IN PTR page-e2e.default.svc.cluster.local.');
  await expect(servicePage.locator('svg.topology path.edge.ready')).toHaveCount(1);
  await page.screenshot({ path: 'test-results/service-page-timeline.png', fullPage: true });

  // A service whose named targetPort the pods do not declare: selected, but no endpoint, and why.
  await page.goto('/services/default/page-named');
  const named = page.getByTestId('endpoints').locator(`tr[data-pod="${pod}"]`);
  await expect(named).toHaveAttribute('data-standing', 'none');
  await expect(named).toContainText('it declares no container port named web');
});
