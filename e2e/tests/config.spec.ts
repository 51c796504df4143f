// The Config view: the kinds real manifests carry beside their workloads, as kubectl lists
// them, changing as the cluster does (a claim turning Bound), each editable; and the workloads
// beyond Deployments (StatefulSets, Jobs) on the Workloads view.
import { test, expect } from '@playwright/test';
import { apply, goTo, open } from './helpers';

const MANIFEST = `apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg-e2e
data:
  GREETING: hello
  LEVEL: debug
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: cfg-e2e-data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: cfg-e2e
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: cfg-e2e
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app: cfg-e2e
`;

test('config, storage and policy objects are listed, follow the cluster and can be edited', async ({ page }) => {
  await open(page);
  await apply(page, MANIFEST, 'poddisruptionbudget.policy/cfg-e2e created');
  await goTo(page, 'Config');
  await expect(page.getByRole('heading', { name: 'Config & storage' })).toBeVisible();
  const cm = page.locator('table[aria-label="ConfigMaps"] tr[data-name="cfg-e2e"]');
  await expect(cm.locator('td').nth(1)).toHaveText('2');
  // The claim is bound at once to a volume of the default class.
  const claim = page.locator('table[aria-label="PersistentVolumeClaims"] tr[data-name="cfg-e2e-data"]');
  await expect(claim.locator('td').nth(1)).toHaveText('Bound');
  await expect(claim.locator('td').nth(3)).toHaveText('1Gi');
  await expect(claim.locator('td').nth(4)).toHaveText('standard');
  const volume = page.locator('table[aria-label="PersistentVolumes"] tr', { hasText: 'default/cfg-e2e-data' });
  await expect(volume.locator('td').nth(2)).toHaveText('Bound');
  // Every namespace's default ServiceAccount, and the one applied.
  await expect(page.locator('table[aria-label="ServiceAccounts"] tr[data-name="default"]').first()).toBeVisible();
  await expect(page.locator('table[aria-label="ServiceAccounts"] tr[data-name="cfg-e2e"]')).toBeVisible();
  // The priority classes every cluster has.
  const critical = page.locator('table[aria-label="PriorityClasses"] tr[data-name="system-node-critical"]');
  await expect(critical.locator('td').nth(1)).toHaveText('2000001000');
  const pdb = page.locator('table[aria-label="PodDisruptionBudgets"] tr[data-name="cfg-e2e"]');
  await expect(pdb.locator('td').nth(3)).toHaveText('0');
  // Edit: a third key, and the count follows.
  await cm.getByRole('button', { name: 'Edit' }).click();
  const editor = page.locator('#manifest');
  await expect(editor).toHaveValue(/name: cfg-e2e/);
  await editor.fill((await editor.inputValue()).replace('LEVEL: debug', 'LEVEL: debug\n  MODE: lab'));
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  await expect(page.getByTestId('apply-results')).toContainText('configmap/cfg-e2e configured');
  await expect(cm.locator('td').nth(1)).toHaveText('3');
  await page.screenshot({ path: 'test-results/config.png', fullPage: true });
});

const WORKLOADS = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: cfg-web
spec:
  serviceName: cfg-web
  replicas: 2
  selector:
    matchLabels:
      app: cfg-web
  template:
    metadata:
      labels:
        app: cfg-web
    spec:
      containers:
      - name: nginx
        image: nginx
---
apiVersion: batch/v1
kind: Job
metadata:
  name: cfg-pi
spec:
  completions: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: pi
        image: busybox
        command: [echo, "3.14159"]
`;

test('stateful sets and jobs show on the Workloads view as they progress', async ({ page }) => {
  await open(page);
  await apply(page, WORKLOADS, 'job.batch/cfg-pi created');
  await goTo(page, 'Workloads');
  const set = page.locator('tr[data-controller="statefulset/cfg-web"]');
  await expect(set.locator('td').nth(1)).toHaveText('2');
  await expect(set.locator('td').nth(3)).toHaveText('2');
  const job = page.locator('table[aria-label="Jobs and CronJobs"] tr[data-controller="job/cfg-pi"]');
  await expect(job.locator('td').nth(1)).toHaveText('Complete');
  await expect(job.locator('td').nth(2)).toHaveText('2/2 completions');
});
