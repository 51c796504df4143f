// The other views: a service described as kubectl describes it, its EndpointSlice with each
// endpoint's conditions, the events filtered to one pod, and a shell in a pod with history.
import { test, expect } from '@playwright/test';
import { apply, goTo, kubiaRc, open } from './helpers';

const MANIFEST = `${kubiaRc('views', 2)}---
apiVersion: v1
kind: Service
metadata:
  name: views
spec:
  type: NodePort
  selector:
    app: views
  ports:
  - port: 80
    targetPort: 8080
`;

test('describe, EndpointSlices, events and a terminal', async ({ page }) => {
  await open(page);
  await apply(page, MANIFEST, 'service/views created');
  const row = page.locator('tr[data-service="views"]');
  await expect(row.locator('.endpoint.ready')).toHaveCount(2);

  // kubectl describe service, live.
  await row.getByRole('button', { name: 'Describe' }).click();
  const described = page.getByTestId('describe');
  await expect(described).toContainText(/Selector:\s+app=views/);
  await expect(described).toContainText(/Type:\s+NodePort/);
  await expect(described).toContainText(/TargetPort:\s+8080\/TCP/);
  await expect(described).toContainText(/Endpoints:\s+10\.244\.\d+\.\d+:8080,10\.244\.\d+\.\d+:8080\n/);

  // kubectl edit: the live service in the editor, changed and applied again.
  await row.getByRole('button', { name: 'Edit' }).click();
  const editor = page.locator('#manifest');
  await expect(editor).toHaveValue(/name: views/);
  await expect(page.getByTestId('editor-hint')).toContainText('Editing service/views');
  expect(await editor.inputValue()).not.toContain('resourceVersion');
  await editor.fill((await editor.inputValue()).replace('sessionAffinity: None', 'sessionAffinity: ClientIP'));
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  await expect(page.getByTestId('apply-results')).toContainText('service/views configured');
  await expect(described).toContainText(/Session Affinity:\s+ClientIP/);

  // The ReplicationController, edited in place: three replicas instead of two.
  await goTo(page, 'Workloads');
  const rc = page.locator('tr[data-controller="replicationcontroller/views"]');
  await expect(rc.locator('td').nth(3)).toHaveText('2');
  await rc.getByRole('button', { name: 'Edit' }).click();
  await editor.fill((await editor.inputValue()).replace('replicas: 2', 'replicas: 3'));
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  await expect(page.getByTestId('apply-results')).toContainText('replicationcontroller/views configured');
  await expect(rc.locator('td').nth(3)).toHaveText('3');
  await goTo(page, 'Services');
  await expect(row.locator('.endpoint.ready')).toHaveCount(3);

  // The EndpointSlice of the service, both endpoints ready.
  await goTo(page, 'EndpointSlices');
  const slice = page.locator('table[aria-label="EndpointSlices"] tr', { hasText: 'views' }).first();
  await expect(slice.locator('.endpoint.ready')).toHaveCount(3);
  await expect(slice).toContainText('IPv4');

  // Events, filtered to one pod.
  await goTo(page, 'Pods');
  const pod = (await page.locator('tr[data-pod^="views-"]').first().getAttribute('data-pod'))!;
  await goTo(page, 'Events');
  await page.locator('#events-filter').fill(pod);
  const events = page.locator('table[aria-label="Events"] tbody tr');
  await expect(events.first()).toContainText(`pod/${pod}`);
  for (const text of await events.allTextContents()) expect(text).toContain(pod);

  // A shell in the pod: commands run in it, and the arrow keys bring them back.
  await goTo(page, 'Terminal');
  await page.locator('#terminal-pod').selectOption(`default/${pod}`);
  await page.getByRole('button', { name: 'Open shell' }).click();
  const line = page.locator('#terminal-line');
  await expect(line).toBeEnabled();
  await line.fill('hostname');
  await line.press('Enter');
  const output = page.getByRole('log', { name: 'Terminal output' });
  await expect(output).toContainText(`$ hostname\n${pod}`);
  await line.fill('cd /etc && pwd');
  await line.press('Enter');
  await expect(output).toContainText('/etc');
  await line.fill('nosuchcommand');
  await line.press('Enter');
  await expect(output.locator('.stderr')).toContainText('nosuchcommand');
  await line.press('ArrowUp');
  await expect(line).toHaveValue('nosuchcommand');
  await line.press('ArrowUp');
  await expect(line).toHaveValue('cd /etc && pwd');
  await line.press('ArrowDown');
  await expect(line).toHaveValue('nosuchcommand');
  // A loop's output shows as it runs (the service's answers, say), until Ctrl-C stops it.
  await line.fill('while true; do echo tick; sleep 0.1; done');
  await line.press('Enter');
  await expect(output).toContainText('tick\ntick\ntick\n');
  await line.press('Control+c');
  await expect(output).toContainText('^C\n');
  await line.fill('echo after');
  await line.press('Enter');
  await expect(output).toContainText('$ echo after\nafter\n');
  await page.screenshot({ path: 'test-results/views.png', fullPage: true });
});

test('light and dark, as chosen, remembered across a reload', async ({ page }) => {
  await page.goto('/');
  const theme = page.getByRole('button', { name: /^Theme:/ });
  await expect(theme).toHaveText('Theme: system');
  await theme.click();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
  await expect(page.locator('body')).toHaveCSS('background-color', 'rgb(247, 248, 250)');
  await theme.click();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  await expect(page.locator('body')).toHaveCSS('background-color', 'rgb(15, 19, 24)');
  await page.reload();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  await expect(page.getByRole('button', { name: /^Theme:/ })).toHaveText('Theme: dark');
  await page.screenshot({ path: 'test-results/dark.png', fullPage: true });
  await page.getByRole('button', { name: /^Theme:/ }).click();
  await expect(page.locator('html')).not.toHaveAttribute('data-theme', /.+/);
});

// httpGet: the built-in server answers 500 while the unhealthy file exists; tcpSocket: the
// container's ports take no connections while the closed file exists.
for (const [name, probe, file] of [
  ['web-http', 'httpGet:\n        port: 8080\n        path: /', '/tmp/svclab-unhealthy'],
  ['web-tcp', 'tcpSocket:\n        port: 8080', '/tmp/svclab-closed'],
]) {
  test(`the readiness toggle flips a ${probe.split(':')[0]} probe through the built-in server`, async ({ page }) => {
    await open(page);
    await apply(page, `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  containers:
  - name: kubia
    image: luksa/kubia
    readinessProbe:
      periodSeconds: 1
      ${probe}
`, `pod/${name} created`);
    const row = page.locator(`tr[data-pod="${name}"]`);
    await expect(row.locator('td').nth(1)).toHaveText('1/1');
    await expect(row.locator('.probe-command')).toHaveText(`touch ${file}`);
    await expect(row).toContainText(`probe: ${probe.split(':')[0]} :8080`);
    await row.getByRole('button', { name: 'Make unready' }).click();
    await expect(row.locator('td').nth(1)).toHaveText('0/1');
    await expect(row.locator('.probe-command')).toHaveText(`rm -f ${file}`);
    await row.getByRole('button', { name: 'Make ready' }).click();
    await expect(row.locator('td').nth(1)).toHaveText('1/1');
    await expect(row.locator('td').nth(3)).toHaveText('0');
  });
}
