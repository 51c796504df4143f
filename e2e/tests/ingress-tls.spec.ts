// An ingress with TLS, from the dashboard's test requests outside the cluster: the TLS Secret
// made with openssl as the chapter does, the host and path choosing the service, and the
// certificate the controller presented shown in each request's trace.
import { test, expect } from '@playwright/test';
import { apply, goTo, open, requestLines, sendRequests } from './helpers';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MANIFEST = `apiVersion: v1
kind: ReplicationController
metadata:
  name: ing-kubia
spec:
  replicas: 2
  selector:
    app: ing-kubia
  template:
    metadata:
      labels:
        app: ing-kubia
    spec:
      containers:
      - name: kubia
        image: luksa/kubia
---
apiVersion: v1
kind: Service
metadata:
  name: ing-kubia
spec:
  selector:
    app: ing-kubia
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Pod
metadata:
  name: ing-echo
  labels:
    app: ing-echo
spec:
  containers:
  - name: echo
    image: registry.k8s.io/echoserver:1.10
---
apiVersion: v1
kind: Service
metadata:
  name: ing-echo
spec:
  selector:
    app: ing-echo
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: tls-e2e
spec:
  tls:
  - hosts:
    - tls.example.com
    secretName: tls-e2e
  rules:
  - host: tls.example.com
    http:
      paths:
      - path: /kubia
        pathType: Prefix
        backend:
          service:
            name: ing-kubia
            port:
              number: 80
      - path: /echo
        pathType: Prefix
        backend:
          service:
            name: ing-echo
            port:
              number: 80
`;

test('an ingress with TLS answers by host and path, with its certificate in the trace', async ({ page, request }) => {
  const dir = mkdtempSync(join(tmpdir(), 'svclab-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'tls.key'),
    '-out', join(dir, 'tls.cert'), '-days', '30', '-subj', '/CN=tls.example.com'], { stdio: 'ignore' });
  const secret = await request.post('/lab/v1/namespaces/default/secrets/tls', {
    data: { name: 'tls-e2e', cert: readFileSync(join(dir, 'tls.cert'), 'utf8'), key: readFileSync(join(dir, 'tls.key'), 'utf8') },
  });
  expect(secret.ok(), await secret.text()).toBe(true);

  await open(page);
  await apply(page, MANIFEST, 'ingress.networking.k8s.io/tls-e2e created');
  await expect(page.locator('tr[data-service="ing-kubia"] .endpoint.ready')).toHaveCount(2);
  await expect(page.locator('tr[data-service="ing-echo"] .endpoint.ready')).toHaveCount(1);

  const send = async (url: string, count: number) => requestLines(await sendRequests(page, 'outside', url, count));

  // /kubia goes to the kubia pods, over TLS with the Secret's certificate.
  let lines = await send('https://tls.example.com/kubia', 6);
  for (const text of await lines.locator('.outcome').allTextContents()) {
    expect(text).toMatch(/^200 You've hit ing-kubia-[a-z0-9]{5}$/);
  }
  await lines.first().locator('summary').click();
  await expect(lines.first().locator('.trace')).toContainText('TLS certificate: CN=tls.example.com');
  await expect(lines.first().locator('.trace .hop')).toContainText('tls.example.com/kubia (Prefix)');

  // /echo goes to the echo server, which reports the path it was asked for.
  lines = await send('https://tls.example.com/echo', 2);
  await expect(lines.first().locator('.outcome')).toContainText('200');
  await expect(lines.first().locator('.outcome')).toContainText('/echo');
  await expect(lines.first().locator('span.hop')).toContainText('ing-echo');
  await page.screenshot({ path: 'test-results/ingress-tls.png', fullPage: true });

  await goTo(page, 'Ingresses');
  await expect(page.locator('tr[data-ingress="tls-e2e"]')).toContainText('tls.example.com');
});
