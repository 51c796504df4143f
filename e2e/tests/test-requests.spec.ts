// Test requests in the browser, as the chapter sends them: from outside the cluster to a node
// port and a load balancer (with the hops their proxies chose), from a pod by service name with
// ClientIP affinity sticking to one pod, and keep-alive keeping a connection on one pod.
import { test, expect, Page } from '@playwright/test';
import { apply, kubiaRc, open, requestLines, sendRequests as send } from './helpers';

const MANIFEST = `${kubiaRc('tr', 3)}---
apiVersion: v1
kind: Service
metadata:
  name: tr-nodeport
spec:
  type: NodePort
  selector:
    app: tr
  ports:
  - port: 80
    targetPort: 8080
    nodePort: 30201
---
apiVersion: v1
kind: Service
metadata:
  name: tr-lb
spec:
  type: LoadBalancer
  selector:
    app: tr
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: tr-affinity
spec:
  sessionAffinity: ClientIP
  selector:
    app: tr
  ports:
  - port: 80
    targetPort: 8080
`;

async function answered(run: ReturnType<Page['locator']>) {
  return run.getByRole('list', { name: 'Which pod answered' }).locator('li').evaluateAll(
    (items) => items.map((li) => li.getAttribute('data-pod')),
  );
}

test('test requests from outside, from a pod, with affinity and keep-alive, each with its trace', async ({ page, request }) => {
  await open(page);
  await apply(page, MANIFEST, 'service/tr-affinity created');
  await expect(page.locator('tr[data-service="tr-nodeport"] .endpoint.ready')).toHaveCount(3);
  await expect(page.locator('tr[data-service="tr-lb"]')).toContainText('127.0.2.');

  // From outside to node-1's node port: every request answered, spread over the three pods,
  // each traced through the node port with the node as the source the pod sees.
  let run = await send(page, 'outside', 'http://127.0.1.1:30201/', 30);
  await expect(run).toContainText('from outside the cluster');
  for (const text of await run.getByRole('list', { name: 'Requests' }).locator('> li .outcome').allTextContents()) {
    expect(text).toMatch(/^200 You've hit tr-[a-z0-9]{5}$/);
  }
  expect((await answered(run)).length).toBe(3);
  const first = requestLines(run).first();
  await first.locator('summary').click();
  await expect(first.locator('.trace')).toContainText('connect to 127.0.1.1:30201');
  await expect(first.locator('.trace .hop')).toContainText('node port on node-1: random among 3 ready endpoints');
  await expect(first.locator('.trace .hop')).toContainText('the far end sees source 127.0.1.1');
  // The open trace is drawn on the overview: the service and the pod that answered.
  const answeredBy = (await first.locator('.outcome').textContent())!.replace("200 You've hit ", '');
  await expect(page.locator('svg.topology g.box.traced')).toHaveCount(2);
  await expect(page.locator(`svg.topology g.box.traced[data-id="pod:default/${answeredBy}"]`)).toHaveCount(1);
  await expect(page.locator('svg.topology path.edge.traced')).toHaveCount(1);
  await page.screenshot({ path: 'test-results/test-requests-nodeport.png', fullPage: true });

  // Through the load balancer: its choice of node comes first in the trace.
  const svc = await (await request.get('/api/v1/namespaces/default/services/tr-lb')).json();
  const lb = svc.status.loadBalancer.ingress[0].ip;
  run = await send(page, 'outside', `http://${lb}/`, 5);
  const lbFirst = requestLines(run).first();
  await expect(lbFirst.locator('.outcome')).toHaveText(/^200 You've hit tr-/);
  await lbFirst.locator('summary').click();
  await expect(lbFirst.locator('.trace .hop').first()).toContainText('load balancer: random among');
  await expect(lbFirst.locator('.trace .hop').nth(1)).toContainText('node port on node-');

  // From a pod by service name: the DNS query is in the trace, and ClientIP affinity keeps
  // all fifteen requests on one pod.
  const pod = (await page.locator('table[aria-label="Pods"] tbody tr[data-pod^="tr-"]').first().getAttribute('data-pod'))!;
  run = await send(page, `pod:default/${pod}`, 'http://tr-affinity/', 15);
  expect((await answered(run)).length).toBe(1);
  const affFirst = requestLines(run).first();
  await affFirst.locator('summary').click();
  await expect(affFirst.locator('.trace .dns')).toContainText('tr-affinity.default.svc.cluster.local. A? → NOERROR');
  await expect(affFirst.locator('.trace .hop')).toContainText('ClientIP');
  await page.screenshot({ path: 'test-results/test-requests-affinity.png', fullPage: true });

  // Without affinity new connections spread; with keep-alive one connection stays on one pod.
  run = await send(page, `pod:default/${pod}`, 'http://tr-nodeport/', 30);
  expect((await answered(run)).length).toBe(3);
  run = await send(page, `pod:default/${pod}`, 'http://tr-nodeport/', 10, true);
  expect((await answered(run)).length).toBe(1);
  const connections = await requestLines(run).evaluateAll(
    (items) => new Set(items.map((li) => li.getAttribute('data-connection'))).size,
  );
  expect(connections).toBe(1);
});
