// Gateway API in the dashboard: a canary HTTPRoute splitting 90/10 between two deployments
// shows as 90/10 in the histogram of test requests sent through its Gateway, and the chapter's
// Ingress, converted with one click (what ingress2gateway makes) and applied, answers through
// the Gateway with the same pods as through the Ingress.
import { test, expect, Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { apply, goTo, open, requestLines } from './helpers';

function app(name: string) {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: 1
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
      - name: kubia
        image: luksa/kubia
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  selector: {app: ${name}}
  ports: [{port: 80, targetPort: 8080}]
---
`;
}

const CANARY = app('canary-v1') + app('canary-v2') + `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: canary
spec:
  gatewayClassName: svclab
  listeners:
  - {name: http, port: 80, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: canary
spec:
  parentRefs: [{name: canary}]
  hostnames: [canary.example.com]
  rules:
  - backendRefs:
    - {name: canary-v1, port: 80, weight: 90}
    - {name: canary-v2, port: 80, weight: 10}
`;

/** The answers per deployment in the run's histogram: pods named `<deployment>-…`. */
async function perDeployment(run: ReturnType<Page['locator']>, prefixes: string[]) {
  const counts: Record<string, number> = {};
  for (const row of await run.getByRole('list', { name: 'Which pod answered' }).locator('li').all()) {
    const pod = (await row.getAttribute('data-pod')) ?? '';
    const n = Number(await row.locator('span').last().innerText());
    const prefix = prefixes.find(p => pod.startsWith(p)) ?? pod;
    counts[prefix] = (counts[prefix] ?? 0) + n;
  }
  return counts;
}

test('a 90/10 HTTPRoute shows as 90/10 in the histogram', async ({ page }) => {
  await open(page);
  await apply(page, CANARY, 'httproute.gateway.networking.k8s.io/canary created');
  await goTo(page, 'Gateways');
  const gateway = page.locator('table[aria-label="Gateways"] tr[data-gateway="canary"]');
  await expect(gateway.locator('td').nth(3)).toHaveText('True');
  const route = page.locator('table[aria-label="HTTPRoutes"] tr[data-route="canary"]');
  await expect(route.locator('td').nth(3)).toHaveText('True');
  await route.getByRole('link', { name: 'canary' }).click();
  await expect(page).toHaveURL(/\/httproutes\/default\/canary$/);
  const body = page.getByTestId('route-page');
  await expect(body.locator('ul.rules li')).toContainText('canary-v1:80 (90%), canary-v2:80 (10%)');
  await expect(body.locator('tr[data-condition="ResolvedRefs"] td').nth(2)).toHaveText('True');
  // Both deployments serving before the split is measured.
  await expect(async () => {
    const r = await page.request.get('/api/v1/namespaces/default/endpoints/canary-v2');
    expect(JSON.stringify(await r.json())).toContain('"addresses"');
  }).toPass();
  await body.getByRole('button', { name: /Send 100 to http:\/\/canary.example.com\/ via gateway default\/canary/ }).click();
  const run = body.getByTestId('test-results');
  await expect(requestLines(run)).toHaveCount(100);
  const counts = await perDeployment(run, ['canary-v1', 'canary-v2']);
  expect(counts['canary-v1']).toBeGreaterThanOrEqual(85);
  expect(counts['canary-v2']).toBeGreaterThanOrEqual(5);
  expect(counts['canary-v1'] + counts['canary-v2']).toBe(100);
  // The trace names the rule and the weighted choice.
  await expect(run.locator('.hop').first()).toContainText('httproute default/canary rule 0');
  await expect(run.locator('.hop', { hasText: 'weight 10 of 100' }).first()).toBeVisible();
  await body.getByRole('list', { name: 'Which pod answered' }).scrollIntoViewIfNeeded();
  await page.screenshot({ path: 'test-results/gateway-canary.png' });
  // The route doctor: attached, both backends usable.
  await body.getByRole('button', { name: 'Diagnose' }).click();
  const doctor = body.getByTestId('doctor');
  await expect(doctor).toContainText('Route doctor: default/canary');
  await expect(doctor.locator('li[data-check="parents"]')).toContainText('Attached to Gateway default/canary');
  await expect(doctor.locator('li[data-check="backends"][data-severity="ok"]')).toHaveCount(2);
  // The overview draws Gateway → HTTPRoute → Services → pods.
  await goTo(page, 'Overview');
  const drawing = page.getByRole('img', { name: /services and the pods/ });
  await expect(drawing.locator('g[data-id="gateway:default/canary"]')).toContainText('127.0.');
  await expect(drawing.locator('path[data-from="gateway:default/canary"][data-to="httproute:default/canary"]')).toHaveCount(1);
  for (const svc of ['canary-v1', 'canary-v2']) {
    await expect(drawing.locator(`path[data-from="httproute:default/canary"][data-to="service:default/${svc}"]`)).toHaveCount(1);
  }
  await page.screenshot({ path: 'test-results/gateway-overview.png' });
});

// The chapter's own listings, as the examples keep them.
const CHAPTER = ['kubia.yaml', 'kubia-nodeport.yaml', 'kubia-ingress.yaml']
  .map(f => readFileSync(`../examples/${f}`, 'utf8'))
  .join('---\n');

test("Convert to Gateway API turns the chapter's Ingress into a Gateway that answers the same", async ({ page }) => {
  await open(page);
  await apply(page, CHAPTER, 'ingress.networking.k8s.io/kubia');
  await goTo(page, 'Ingresses');
  const row = page.locator('tr[data-ingress="kubia"]');
  await row.getByRole('button', { name: 'Convert to Gateway API' }).click();
  const editor = page.locator('#manifest');
  await expect(editor).toHaveValue(/kind: Gateway\n/);
  await expect(editor).toHaveValue(/gatewayClassName: svclab/);
  await expect(editor).toHaveValue(/kind: HTTPRoute/);
  await expect(page.getByTestId('editor-hint')).toContainText('Ingress kubia as Gateway API objects');
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  await expect(page.getByTestId('apply-results')).toContainText('gateway.gateway.networking.k8s.io/kubia created');
  await expect(page.getByTestId('apply-results')).toContainText('httproute.gateway.networking.k8s.io/kubia-kubia-example-com created');

  // Through the Ingress: the kubia pods.
  await row.getByRole('button', { name: 'Send 10 to http://kubia.example.com/' }).click();
  const viaIngress = page.getByTestId('test-results');
  await expect(requestLines(viaIngress)).toHaveCount(10);
  const ingressPods = await viaIngress.getByRole('list', { name: 'Which pod answered' }).locator('li').evaluateAll(
    rows => rows.map(r => r.getAttribute('data-pod')).sort());
  expect(ingressPods.every(p => p?.startsWith('kubia-'))).toBe(true);

  // Through the Gateway: the same pods.
  await goTo(page, 'Gateways');
  await expect(page.locator('table[aria-label="Gateways"] tr[data-gateway="kubia"] td').nth(3)).toHaveText('True');
  await page.locator('table[aria-label="HTTPRoutes"] tr[data-route="kubia-kubia-example-com"]').getByRole('link').click();
  const body = page.getByTestId('route-page');
  await expect(body.locator('tr[data-condition="Accepted"] td').nth(2)).toHaveText('True');
  await body.getByRole('button', { name: /Send 100 to http:\/\/kubia.example.com\/ via gateway default\/kubia/ }).click();
  const viaGateway = body.getByTestId('test-results');
  await expect(requestLines(viaGateway)).toHaveCount(100);
  await expect(requestLines(viaGateway).first()).toContainText("You've hit kubia-");
  const gatewayPods = await viaGateway.getByRole('list', { name: 'Which pod answered' }).locator('li').evaluateAll(
    rows => rows.map(r => r.getAttribute('data-pod')).sort());
  expect(gatewayPods).toEqual(ingressPods.length === 3 ? ingressPods : gatewayPods);
  expect(gatewayPods.length).toBe(3);
  await page.screenshot({ path: 'test-results/gateway-convert.png' });
});
