// The dashboard across a crash: a svclab of its own on a temporary data directory, the chapter's
// kubia applied, then `kill -9` while the page is open. The page says it is reconnecting; when
// svclab starts again on the same data, the same page (no reload) relists and shows kubia with
// the same cluster IP and three ready endpoints again.
import { test, expect } from '@playwright/test';
import { spawn, ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const binary = process.env.SVCLAB_BIN ?? '../target/debug/svclab';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Starts svclab on `data`, resolving once it says it is running. */
function start(data: string, port: number, nodeNetwork: string): Promise<ChildProcess> {
  const child = spawn(binary, [
    '--listen', `127.0.0.1:${port}`, '--data-dir', data, '--node-network', nodeNetwork, '--nodes', '3',
    '--dns', '127.0.0.1:0', '--ingress-http', '127.0.0.1:0', '--ingress-https', '127.0.0.1:0',
    '--no-kubeconfig', '--dashboard', '../frontend/dist',
  ], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RUST_LOG: 'svclab=warn' } });
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stdout!.on('data', (chunk) => {
      seen += chunk.toString();
      if (seen.includes('svclab is running')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`svclab exited with ${code}: ${seen}`)));
  });
}

test('after kill -9 and a restart, the open dashboard shows the cluster as it was', async ({ page, request }) => {
  const data = mkdtempSync(join(tmpdir(), 'svclab-e2e-'));
  const port = await freePort();
  const nodeNetwork = `127.${16 + Math.floor(Math.random() * 200)}.${2 * Math.floor(Math.random() * 100)}.0`;
  const base = `http://127.0.0.1:${port}`;
  let child = await start(data, port, nodeNetwork);
  try {
    const applied = await request.post(`${base}/lab/v1/apply`, {
      headers: { 'content-type': 'application/yaml' },
      data: readFileSync('../examples/kubia.yaml', 'utf8'),
    });
    expect(applied.ok()).toBe(true);
    const clusterIp = (await (await request.get(`${base}/api/v1/namespaces/default/services/kubia`)).json()).spec.clusterIP;

    await page.goto(`${base}/`);
    await expect(page.getByRole('status')).toContainText('live');
    const row = page.locator('tr[data-service="kubia"]');
    await expect(row).toContainText(clusterIp);
    await expect(row.locator('.endpoint.ready')).toHaveCount(3);
    const pods = (await page.locator('table[aria-label="Pods"] tbody tr').evaluateAll(
      (rows) => rows.map((r) => r.getAttribute('data-pod')),
    )).sort();
    expect(pods).toHaveLength(3);

    child.kill('SIGKILL');
    await expect(page.getByRole('status')).toContainText('reconnecting');

    child = await start(data, port, nodeNetwork);
    await expect(page.getByRole('status')).toContainText('live', { timeout: 30_000 });
    await expect(row).toContainText(clusterIp);
    await expect(row.locator('.endpoint.ready')).toHaveCount(3);
    const after = (await page.locator('table[aria-label="Pods"] tbody tr').evaluateAll(
      (rows) => rows.map((r) => r.getAttribute('data-pod')),
    )).sort();
    expect(after).toEqual(pods);
    await page.screenshot({ path: 'test-results/restart-relisted.png', fullPage: true });
  } finally {
    child.kill('SIGKILL');
    rmSync(data, { recursive: true, force: true });
  }
});
