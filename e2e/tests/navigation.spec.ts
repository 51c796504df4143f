// Navigation: every view by the sidebar and by its URL (deep links, back, forward, reload), the
// namespace picker, quick jump (Ctrl-K), and no view clipping a table at 1280×720.
import { test, expect } from '@playwright/test';
import { apply, goTo, open } from './helpers';

const VIEWS = ['Overview', 'Learn', 'Services', 'Pods', 'Workloads', 'Config', 'Ingresses', 'Gateways', 'EndpointSlices', 'Nodes', 'Events', 'DNS', 'Terminal'];
const path = (view: string) => (view === 'Overview' ? '/' : `/${view.toLowerCase()}`);

const MANIFEST = `apiVersion: v1
kind: Namespace
metadata:
  name: nav-e2e
---
apiVersion: v1
kind: Service
metadata:
  name: nav-web
  namespace: nav-e2e
spec:
  selector:
    app: nav-web
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Pod
metadata:
  name: nav-web-0
  namespace: nav-e2e
  labels:
    app: nav-web
spec:
  containers:
  - name: kubia
    image: luksa/kubia
    ports:
    - containerPort: 8080
---
apiVersion: v1
kind: Namespace
metadata:
  name: nav-e2e-other
---
apiVersion: v1
kind: Pod
metadata:
  name: nav-other-0
  namespace: nav-e2e-other
spec:
  containers:
  - name: kubia
    image: luksa/kubia
`;

test('every view has a URL: sidebar, deep link, back and forward, reload', async ({ page }) => {
  await open(page);
  const nav = page.getByRole('navigation', { name: 'Views' });
  for (const view of VIEWS) {
    if (view === 'Learn') {
      // `/learn` opens the first step not done yet, at its own URL.
      await nav.getByRole('link', { name: 'Learn' }).click();
      await expect(page).toHaveURL(/\/learn\/5\.1$/);
      continue;
    }
    await goTo(page, view);
    await expect(nav.getByRole('link', { name: new RegExp(`^${view}\\b`) })).toHaveAttribute('aria-current', 'page');
  }
  await page.goBack();
  await expect(page).toHaveURL(/\/dns$/);
  await expect(page.locator('#dns-name')).toBeVisible();
  await page.goForward();
  await expect(page).toHaveURL(/\/terminal$/);
  await expect(page.locator('#terminal-pod')).toBeVisible();

  // A deep link, and a reload, keep the place.
  await page.goto('/events');
  await expect(page.locator('table[aria-label="Events"]')).toBeVisible();
  await page.reload();
  await expect(page.locator('table[aria-label="Events"]')).toBeVisible();
  await expect(nav.getByRole('link', { name: /^Events\b/ })).toHaveAttribute('aria-current', 'page');
  await page.goto('/no/such/view');
  await expect(page.getByRole('heading', { name: 'Nothing here' })).toBeVisible();
});

test('the namespace picker narrows every table, and is remembered', async ({ page }) => {
  await open(page);
  await apply(page, MANIFEST, 'pod/nav-web-0 created');
  await goTo(page, 'Pods');
  const pods = page.locator('table[aria-label="Pods"] tbody tr[data-pod]');
  // A pod in another namespace of its own, so that narrowing is seen whatever else is there.
  await expect(page.locator('tr[data-pod="nav-web-0"]')).toBeVisible();
  await expect(page.locator('tr[data-pod="nav-other-0"]')).toBeVisible();

  await page.locator('#namespace').selectOption('nav-e2e');
  await expect(pods).toHaveCount(1);
  await expect(pods.first().locator('td').first()).toHaveText('nav-e2e/nav-web-0');
  await goTo(page, 'Services');
  await expect(page.locator('table[aria-label="Services"] tbody tr[data-service]')).toHaveCount(1);
  await page.reload();
  await expect(page.locator('#namespace')).toHaveValue('nav-e2e');
  await expect(page.locator('table[aria-label="Services"] tbody tr[data-service]')).toHaveCount(1);
  await page.locator('#namespace').selectOption('');
  expect(await page.locator('table[aria-label="Services"] tbody tr[data-service]').count()).toBeGreaterThan(1);
});

test('Ctrl-K jumps to any object or view by name', async ({ page }) => {
  await open(page);
  await apply(page, MANIFEST, 'pod/nav-web-0');
  await page.keyboard.press('Control+k');
  const jump = page.getByRole('dialog', { name: 'Jump to' });
  await expect(jump).toBeVisible();
  await page.keyboard.type('nav-web-');
  await expect(jump.getByRole('option').first()).toContainText('nav-e2e/nav-web-0');
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/pods\/nav-e2e\/nav-web-0$/);
  await expect(page.getByTestId('pod-page').getByRole('heading', { name: 'Pod nav-e2e/nav-web-0' })).toBeVisible();
  await expect(jump).toHaveCount(0);

  // Arrow keys choose among matches: the service comes before the pod.
  await page.keyboard.press('Control+k');
  await page.keyboard.type('nav-web');
  await expect(jump.getByRole('option').nth(0)).toContainText('service');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/services\/nav-e2e\/nav-web$/);

  // Views by name; Escape closes without going anywhere.
  await page.keyboard.press('Control+k');
  await page.keyboard.type('events');
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/events$/);
  await page.keyboard.press('Control+k');
  await page.keyboard.press('Escape');
  await expect(jump).toHaveCount(0);
  await expect(page).toHaveURL(/\/events$/);
});

test('at 1280x720 no view clips a table, and NAME stays in view', async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 720 });
  await open(page);
  await apply(page, MANIFEST, 'pod/nav-web-0');
  for (const view of VIEWS) {
    await page.goto(path(view));
    await expect(page.getByRole('status')).toContainText('live');
    await page.waitForLoadState('networkidle');
    // The page itself never scrolls sideways.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, `${view} scrolls sideways`).toBeLessThanOrEqual(0);
    const viewBox = (await page.locator('#view').boundingBox())!;
    for (const wrap of await page.locator('.table-wrap').all()) {
      const box = (await wrap.boundingBox())!;
      expect(box.x, `${view}: a table starts left of its view`).toBeGreaterThanOrEqual(viewBox.x - 1);
      expect(box.x + box.width, `${view}: a table runs past its view`).toBeLessThanOrEqual(viewBox.x + viewBox.width + 1);
      // Scrolled all the way sideways, each row's NAME is still inside the table's box. The
      // boxes are read in one go in the page, so a row the live feed re-renders meanwhile (a
      // new event, a pod's status) cannot slip out between finding a cell and measuring it.
      const names = await wrap.evaluate((el) => {
        el.scrollLeft = 100_000;
        const cells = [...el.querySelectorAll('tbody tr:not(.spacer) > td:first-child')];
        const boxes = cells.map((c) => { const r = c.getBoundingClientRect(); return { x: r.x, width: r.width }; });
        el.scrollLeft = 0;
        return boxes;
      });
      for (const b of names) {
        expect(b.x, `${view}: NAME scrolled away`).toBeGreaterThanOrEqual(box.x - 1);
        expect(b.x + b.width, `${view}: NAME past the edge`).toBeLessThanOrEqual(box.x + box.width + 1);
      }
    }
    await page.screenshot({ path: `test-results/view-${view.toLowerCase()}.png` });
  }
});
