// Learn: the chapter as a guided tour, driven from 5.1 to 5.7 as a newcomer would — each step's
// commands run from the page, each check seen passing — with progress kept across a reload and
// a step reset.
import { test, expect, Page } from '@playwright/test';
import { open } from './helpers';

/** The step on screen. */
const step = (page: Page, id: string) => page.locator(`article.learn-step[data-step="${id}"]`);

/** Runs action `i` of the step and waits for its output. */
async function run(page: Page, id: string, i: number) {
  const action = step(page, id).locator(`li[data-action="${i}"]`);
  await action.getByRole('button', { name: 'Run' }).click();
  await expect(action.getByRole('button', { name: 'Run' })).toBeEnabled({ timeout: 30_000 });
  await expect(action.getByLabel('Output')).toBeVisible();
  return action.getByLabel('Output');
}

/** Waits until check `i` of the step passes. */
async function passes(page: Page, id: string, i: number, timeout = 15_000) {
  await expect(step(page, id).locator(`li[data-check="${i}"]`)).toHaveClass(/passed/, { timeout });
}

/** Every check of the step passes, and the step is marked done in the list. */
async function done(page: Page, id: string) {
  const checks = step(page, id).getByRole('list', { name: 'Checks' }).locator(':scope > li');
  const count = await checks.count();
  for (let i = 0; i < count; i++) await passes(page, id, i);
  await expect(page.getByRole('list', { name: 'Steps' }).locator('li.done', { hasText: id })).toHaveCount(1);
  await page.screenshot({ path: `test-results/learn-${id}.png`, fullPage: true });
}

async function next(page: Page, id: string) {
  await page.getByRole('link', { name: new RegExp(`^Next: ${id.replace('.', '\\.')}`) }).click();
  await expect(page).toHaveURL(new RegExp(`/learn/${id}$`));
}

test('the Learn tour from 5.1 to 5.7, every check passing', async ({ page, request }) => {
  test.setTimeout(300_000);
  await open(page);
  // A newcomer is pointed at the tour from the overview.
  await page.getByTestId('learn-invite').getByRole('link', { name: 'Learn' }).click();
  await expect(page).toHaveURL(/\/learn\/5\.1$/);
  await expect(step(page, '5.1')).toBeVisible();
  await expect(page.getByTestId('learn')).toContainText('0 of 7 done.');

  // 5.1: a service in front of three pods.
  const applied = await run(page, '5.1', 0);
  await expect(applied).toContainText('service/kubia');
  await passes(page, '5.1', 2, 30_000);
  await expect(await run(page, '5.1', 1)).toContainText("You've hit kubia-");
  await expect(step(page, '5.1').locator('li[data-action="1"] code')).toHaveText(/^\$ kubectl exec kubia-[a-z0-9]{5} -- curl -s http:\/\/kubia$/);
  const spread = await run(page, '5.1', 2);
  await expect(spread).toContainText('30');
  await done(page, '5.1');

  // 5.2: a selectorless service with Endpoints written by hand.
  await next(page, '5.2');
  await run(page, '5.2', 0);
  await run(page, '5.2', 1);
  await passes(page, '5.2', 1);
  await expect(await run(page, '5.2', 2)).toContainText('external-service.default.svc.cluster.local');
  await done(page, '5.2');

  // 5.3: NodePort and LoadBalancer, reached from outside.
  await next(page, '5.3');
  await run(page, '5.3', 0);
  await passes(page, '5.3', 0);
  await expect(step(page, '5.3').locator('li[data-action="1"] code')).toContainText(':30123/');
  await expect(await run(page, '5.3', 1)).toContainText("You've hit kubia-");
  await run(page, '5.3', 2);
  await passes(page, '5.3', 2);
  await expect(await run(page, '5.3', 3)).toContainText("You've hit kubia-");
  await done(page, '5.3');

  // 5.4: the Ingress routes kubia.example.com.
  await next(page, '5.4');
  await run(page, '5.4', 0);
  await run(page, '5.4', 1);
  await passes(page, '5.4', 1);
  await expect(await run(page, '5.4', 2)).toContainText("You've hit kubia-");
  await done(page, '5.4');

  // 5.5: readiness probes; the pods are recreated with one, and one is made ready by hand.
  await next(page, '5.5');
  await run(page, '5.5', 0);
  await expect(await run(page, '5.5', 1)).toContainText('deleted');
  await passes(page, '5.5', 0, 60_000);
  await expect(step(page, '5.5').locator('li[data-action="2"] code')).toHaveText(/kubectl exec kubia-[a-z0-9]{5} -- touch \/var\/ready/);
  await run(page, '5.5', 2);
  await passes(page, '5.5', 1, 40_000);
  await done(page, '5.5');

  // 5.6: a headless service; a second pod made ready; nslookup lists both.
  await next(page, '5.6');
  await run(page, '5.6', 0);
  await run(page, '5.6', 1);
  await passes(page, '5.6', 1, 40_000);
  const lookup = await run(page, '5.6', 2);
  await expect(lookup).toContainText('kubia-headless.default.svc.cluster.local');
  await done(page, '5.6');

  // 5.7: a wrong targetPort, found by the doctor and mended.
  await next(page, '5.7');
  await run(page, '5.7', 0);
  await passes(page, '5.7', 0, 30_000);
  await expect(await run(page, '5.7', 1)).toContainText('8081');
  await run(page, '5.7', 2);
  await expect(await run(page, '5.7', 3)).toContainText("You've hit kubia-");
  await done(page, '5.7');
  await expect(page.getByTestId('learn')).toContainText('7 of 7 done.');
  await page.goto('/');
  await expect(page.getByRole('status')).toContainText('live');
  await expect(page.getByTestId('learn-invite')).toHaveCount(0);
  await page.goto('/learn/5.7');

  // Progress is kept in the browser; a step can be reset (what it made is deleted).
  await page.reload();
  await expect(page.getByTestId('learn')).toContainText('7 of 7 done.');
  await step(page, '5.7').getByRole('button', { name: 'Reset this step' }).click();
  await expect(page.getByTestId('learn')).toContainText('6 of 7 done.');
  await expect.poll(async () => (await request.get('/api/v1/namespaces/default/services/kubia-wrong-port')).status()).toBe(404);
  await expect(step(page, '5.7').locator('li[data-check="1"]')).not.toHaveClass(/passed/);
});
