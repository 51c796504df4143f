// What the specs do again and again: open the dashboard live, apply a manifest from the editor,
// and send test requests from the test-request panel.
import { expect, Page } from '@playwright/test';

/** A ReplicationController of `replicas` kubia pods labelled `app: <name>`, listening on 8080. */
export function kubiaRc(name: string, replicas: number): string {
  return `apiVersion: v1
kind: ReplicationController
metadata:
  name: ${name}
spec:
  replicas: ${replicas}
  selector:
    app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
    spec:
      containers:
      - name: kubia
        image: luksa/kubia
        ports:
        - containerPort: 8080
`;
}

/** Opens the dashboard and waits for the live feed. */
export async function open(page: Page) {
  await page.goto('/');
  await expect(page.getByRole('status')).toContainText('live');
}

/** Applies `manifest` from the editor and waits for `expected` among the results. */
export async function apply(page: Page, manifest: string, expected: string) {
  await page.locator('#manifest').fill(manifest);
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  await expect(page.getByTestId('apply-results')).toContainText(expected);
}

/** Sends `count` test requests from `source` to `url` and waits for every result; the run. */
export async function sendRequests(page: Page, source: string, url: string, count: number, keepAlive = false) {
  await page.locator('#test-source').selectOption(source);
  await page.locator('#test-url').fill(url);
  await page.locator('#test-count').fill(String(count));
  await page.locator('#test-keep-alive').setChecked(keepAlive);
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  const run = page.getByTestId('test-results').filter({ hasText: `Requests to ${url}` });
  await expect(requestLines(run)).toHaveCount(count);
  return run;
}

/** One line per request of a run. */
export function requestLines(run: ReturnType<Page['locator']>) {
  return run.getByRole('list', { name: 'Requests' }).locator(':scope > li');
}

/** Opens a view from the sidebar, e.g. `Pods`, and waits for its URL. */
export async function goTo(page: Page, view: string) {
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: new RegExp(`^${view}\\b`) }).click();
  await expect(page).toHaveURL(new RegExp(view === 'Overview' ? '/$' : `/${view.toLowerCase()}$`));
}
