// The service doctor and the DNS panel in the browser: a selector with a typo is diagnosed with
// its near misses, a pod without a readiness probe is offered one, a headless service's lookup
// through a pod's resolver lists only the ready pods, an ExternalName answers its CNAME, and the
// NetworkPolicies selecting a service's pods are named with what they let in.
import { test, expect } from '@playwright/test';
import { apply, goTo, kubiaRc, open } from './helpers';

test('the doctor finds a broken selector and names the near misses', async ({ page }) => {
  await open(page);
  await apply(page, `${kubiaRc('doc', 2)}---
apiVersion: v1
kind: Service
metadata:
  name: doc-typo
spec:
  selector:
    app: dco
  ports:
  - port: 80
    targetPort: 8080
`, 'service/doc-typo created');
  const pods = page.locator('table[aria-label="Pods"] tbody tr[data-pod^="doc-"]');
  await expect(pods).toHaveCount(2);

  await page.locator('tr[data-service="doc-typo"]').getByRole('button', { name: 'Doctor' }).click();
  const doctor = page.getByTestId('doctor');
  const selector = doctor.locator('li[data-check="selector"]');
  await expect(selector).toHaveAttribute('data-severity', 'error');
  await expect(selector).toContainText('No pod matches the selector app=dco');
  await expect(selector).toContainText('has app=doc (the selector wants app=dco)');
  await expect(selector.locator('a')).toHaveCount(2);
  await expect(doctor.locator('li[data-check="clients"]')).toContainText('never answers ping');
  await page.screenshot({ path: 'test-results/doctor-broken-selector.png', fullPage: true });

  // A link leads to the pod's page.
  const first = selector.locator('a').first();
  const target = (await first.textContent())!.replace('pod/', '');
  await first.click();
  await expect(page).toHaveURL(new RegExp(`/pods/default/${target}$`));
  await expect(page.getByTestId('pod-page').locator('.container-card')).toContainText('No readiness probe');

  // These pods have no readiness probe: the dashboard offers their controller with one added.
  const row = page.locator(`tr[data-pod="${target}"]`);
  await expect(row).toContainText('no readiness probe');
  await row.getByRole('button', { name: 'Add one' }).click();
  await expect(page.locator('#manifest')).toHaveValue(/kind: ReplicationController/);
  await expect(page.locator('#manifest')).toHaveValue(/readinessProbe:\s+exec:\s+command:\s+- ls\s+- \/var\/ready/);
  await expect(page.getByTestId('editor-hint')).toContainText('delete the pods');
});

test('DNS lookups: a headless service lists only ready pods, an ExternalName its CNAME', async ({ page, request }) => {
  await open(page);
  await apply(page, `apiVersion: v1
kind: ReplicationController
metadata:
  name: dnsr
spec:
  replicas: 2
  selector:
    app: dnsr
  template:
    metadata:
      labels:
        app: dnsr
    spec:
      containers:
      - name: kubia
        image: luksa/kubia
        readinessProbe:
          periodSeconds: 1
          exec:
            command: [ls, /var/ready]
---
apiVersion: v1
kind: Service
metadata:
  name: dnsr-headless
spec:
  clusterIP: None
  selector:
    app: dnsr
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: ext-e2e
spec:
  type: ExternalName
  externalName: someapi.somecompany.com
---
apiVersion: v1
kind: Pod
metadata:
  name: dnsutils-e2e
spec:
  containers:
  - name: dnsutils
    image: tutum/dnsutils
    command: [sleep, infinity]
`, 'pod/dnsutils-e2e created');
  const pods = page.locator('table[aria-label="Pods"] tbody tr[data-pod^="dnsr-"]');
  await expect(pods).toHaveCount(2);
  await expect(page.locator('tr[data-pod="dnsutils-e2e"] td').nth(2)).toHaveText('Running');

  // Make one pod ready with the toggle; it alone becomes an endpoint.
  const chosen = (await pods.first().getAttribute('data-pod'))!;
  await page.locator(`tr[data-pod="${chosen}"]`).getByRole('button', { name: 'Make ready' }).click();
  const service = page.locator('tr[data-service="dnsr-headless"]');
  await expect(service.locator('.endpoint.ready')).toHaveCount(1);
  const pod = await (await request.get(`/api/v1/namespaces/default/pods/${chosen}`)).json();
  const readyIp: string = pod.status.podIP;

  // The service's page shows its records as the cluster DNS answers them: the ready pod only.
  await service.getByRole('link', { name: 'dnsr-headless' }).click();
  const records = page.getByTestId('dns-records');
  await expect(records.locator('li[data-type="A"]').first()).toContainText(`IN A ${readyIp}`);
  await expect(records.locator('li[data-type="A"] pre').first()).toHaveText(/^[^\n]+$/);

  // Through the pod's resolver: the search path's first name answers, with the ready pod only.
  await goTo(page, 'DNS');
  await page.locator('#dns-name').fill('dnsr-headless');
  await page.locator('#dns-source').selectOption('default/dnsutils-e2e');
  await page.getByRole('button', { name: 'Look up' }).click();
  const results = page.getByTestId('dns-results');
  const queries = results.getByRole('list', { name: 'Queries sent' }).locator(':scope > li');
  await expect(queries).toHaveCount(1);
  await expect(queries.first()).toContainText('dnsr-headless.default.svc.cluster.local. A?');
  await expect(queries.first()).toContainText('NOERROR');
  await expect(queries.first().locator('.records li')).toHaveCount(1);
  await expect(queries.first().locator('.records li')).toContainText(`IN A ${readyIp}`);
  await expect(results).toContainText('ndots:5');
  await expect(page.getByTestId('dns-summary')).toHaveText('1 record in the answer');
  await page.screenshot({ path: 'test-results/dns-headless.png', fullPage: true });

  // A short name that exists nowhere: every search-path candidate, then the name as given.
  await page.locator('#dns-name').fill('nowhere');
  await page.getByRole('button', { name: 'Look up' }).click();
  await expect(queries).toHaveCount(4);
  await expect(queries.nth(3)).toContainText('nowhere. A?');
  await expect(page.getByTestId('dns-summary')).toContainText('No answer');

  // Straight at the server: the ExternalName service is a CNAME.
  await page.locator('#dns-name').fill('ext-e2e.default.svc.cluster.local');
  await page.locator('#dns-source').selectOption('');
  await page.getByRole('button', { name: 'Look up' }).click();
  await expect(queries).toHaveCount(1);
  await expect(queries.first().locator('.records li')).toContainText('IN CNAME someapi.somecompany.com.');
  await expect(results).toContainText('no search path');
  await page.screenshot({ path: 'test-results/dns-externalname.png', fullPage: true });
});

test('the doctor names the NetworkPolicies that select a service\'s pods and what each lets in', async ({ page }) => {
  await open(page);
  await apply(page, `${kubiaRc('np', 1)}---
apiVersion: v1
kind: Service
metadata:
  name: np
spec:
  selector:
    app: np
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: np-from-clients
spec:
  podSelector:
    matchLabels:
      app: np
  ingress:
  - from:
    - podSelector:
        matchLabels:
          role: client
    ports:
    - port: 8080
`, 'networkpolicy.networking.k8s.io/np-from-clients created');
  await page.goto('/services/default/np');
  const finding = page.getByTestId('service-page').getByTestId('doctor').locator('li[data-check="network-policy"]');
  await expect(finding).toHaveAttribute('data-severity', 'warning');
  await expect(finding).toContainText('A NetworkPolicy selects these pods: only what it allows reaches them');
  await expect(finding).toContainText('np-from-clients lets in pods role=client of its namespace, on TCP 8080');
});
