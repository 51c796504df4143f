// EndpointSlices on the dashboard: with nodes labelled into zones, a service annotated
// `topology-mode: Auto` gets its endpoints hinted for zones by CPU share, and the EndpointSlices
// view shows the zone each endpoint serves; a selectorless service whose user wrote an
// EndpointSlice (no Endpoints object) shows its endpoints, and the doctor says where they are
// kept; a pod draining in its preStop hook shows in its service's row while it takes the traffic.
import { test, expect } from '@playwright/test';
import { apply, goTo, open } from './helpers';

const pod = (name: string, node: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels: {app: zoned}
spec:
  nodeName: ${node}
  containers:
  - name: kubia
    image: luksa/kubia
    ports: [{containerPort: 8080}]
`;

const MANIFEST = [
  `apiVersion: v1
kind: Service
metadata:
  name: zoned
  annotations: {service.kubernetes.io/topology-mode: Auto}
spec:
  selector: {app: zoned}
  ports: [{port: 80, targetPort: 8080}]
`,
  pod('zoned-1', 'node-1'),
  pod('zoned-2', 'node-2'),
  pod('zoned-3', 'node-2'),
].join('---\n');

const ZONES: [string, string][] = [['node-1', 'zone-a'], ['node-3', 'zone-a'], ['node-2', 'zone-b']];

async function label(request: import('@playwright/test').APIRequestContext, node: string, zone: string | null) {
  const patched = await request.patch(`/api/v1/nodes/${node}`, {
    headers: { 'Content-Type': 'application/merge-patch+json' },
    data: { metadata: { labels: { 'topology.kubernetes.io/zone': zone } } },
  });
  expect(patched.status()).toBe(200);
}

test('endpoints hinted for zones by Topology Aware Routing show the zone they serve', async ({ page }) => {
  for (const [node, zone] of ZONES) await label(page.request, node, zone);
  try {
    await open(page);
    await apply(page, MANIFEST, 'pod/zoned-3 created');
    await goTo(page, 'EndpointSlices');
    const slice = page.locator('table[aria-label="EndpointSlices"] tr', { hasText: 'zoned' }).first();
    await expect(slice.locator('.endpoint.ready')).toHaveCount(3);
    // Zone a has two thirds of the CPU and one endpoint: one of zone b's two serves it too.
    await expect(slice.locator('.endpoint .hint', { hasText: 'for zone-a' })).toHaveCount(2);
    await expect(slice.locator('.endpoint .hint', { hasText: 'for zone-b' })).toHaveCount(1);
    await expect(slice.locator('.endpoint', { hasText: 'zoned-1' })).toContainText('for zone-a');
    await expect(slice.locator('.endpoint', { hasText: 'zoned-1' })).toHaveAttribute('title', /zone=zone-a/);

    await goTo(page, 'Events');
    await page.locator('#events-filter').fill('TopologyAwareHints');
    const rows = page.locator('table[aria-label="Events"] tbody tr');
    await expect(rows.filter({ hasText: 'Topology Aware Hints has been enabled, addressType: IPv4' })).toHaveCount(1);
    await expect(rows.filter({ hasText: 'TopologyAwareHintsDisabled' }).first()).toContainText('service/zoned');

    // The doctor says the routing does something, and why.
    await goTo(page, 'Services');
    await page.locator('tr[data-service="zoned"]').getByRole('button', { name: 'Doctor' }).click();
    const topology = page.getByTestId('doctor').locator('li[data-check="topology"]');
    await expect(topology).toHaveAttribute('data-severity', 'ok');
    await expect(topology).toContainText("Topology Aware Routing keeps traffic in the client's zone");
  } finally {
    for (const [node] of ZONES) await label(page.request, node, null);
  }
});

test('a selectorless service served from the EndpointSlice its user wrote', async ({ page }) => {
  await open(page);
  await apply(page, `apiVersion: v1
kind: Service
metadata:
  name: by-slice
spec:
  ports: [{name: http, port: 80, targetPort: 9376}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: by-slice-1
  labels: {kubernetes.io/service-name: by-slice}
addressType: IPv4
ports: [{name: http, appProtocol: http, protocol: TCP, port: 9376}]
endpoints:
- addresses: ["10.4.5.6"]
- addresses: ["10.1.2.3"]
  conditions: {ready: false}
`, 'endpointslice.discovery.k8s.io/by-slice-1 created');
  const row = page.locator('tr[data-service="by-slice"]');
  await expect(row.locator('.endpoint.ready')).toHaveCount(1);
  await expect(row.locator('.endpoint.ready')).toContainText('10.4.5.6');
  await row.getByRole('button', { name: 'Doctor' }).click();
  const selector = page.getByTestId('doctor').locator('li[data-check="selector"]');
  await expect(selector).toHaveAttribute('data-severity', 'ok');
  await expect(selector).toContainText('the EndpointSlices labelled kubernetes.io/service-name=by-slice are kept by hand; they list 1 ready address');
});

test('a draining pod keeps the service while no endpoint is ready, and the row shows it', async ({ page }) => {
  await open(page);
  await apply(page, `apiVersion: apps/v1
kind: Deployment
metadata: {name: drain}
spec:
  selector: {matchLabels: {app: drain}}
  template:
    metadata: {labels: {app: drain}}
    spec:
      terminationGracePeriodSeconds: 60
      containers:
      - name: kubia
        image: luksa/kubia
        ports: [{containerPort: 8080}]
        lifecycle: {preStop: {exec: {command: [sleep, "60"]}}}
---
apiVersion: v1
kind: Service
metadata: {name: drain}
spec:
  selector: {app: drain}
  ports: [{port: 80, targetPort: 8080}]
`, 'service/drain created');
  const row = page.locator('tr[data-service="drain"]');
  await expect(row.locator('.endpoint.ready')).toHaveCount(1);
  const scaled = await page.request.patch('/apis/apps/v1/namespaces/default/deployments/drain', {
    headers: { 'Content-Type': 'application/merge-patch+json' },
    data: { spec: { replicas: 0 } },
  });
  expect(scaled.status()).toBe(200);
  // Gone from Endpoints, still serving in its preStop hook: the proxy sends to it.
  const draining = row.locator('.endpoint.terminating');
  await expect(draining).toHaveCount(1);
  await expect(draining).toContainText('(terminating)');
  await expect(draining).toHaveAttribute('title', /still serving/);
  await row.getByRole('button', { name: 'Send 10 requests' }).click();
  const run = page.getByTestId('test-results');
  await expect(run.getByRole('list', { name: 'Requests' }).locator(':scope > li')).toHaveCount(10);
  const first = run.getByRole('list', { name: 'Requests' }).locator(':scope > li').first();
  await expect(first.locator('.outcome')).toContainText("You've hit drain-");
  await first.locator('summary').click();
  await expect(first.locator('.trace .hop')).toContainText('random among 1 serving terminating endpoint');
});
