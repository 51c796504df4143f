// Dashboard benchmark (`cargo xtask bench dashboard`), driven by Playwright, not a test: a
// release svclab holding 1,000 services and 10,000 pods, the dashboard (built into the binary,
// served compressed as a browser gets it) opened in Debian's chromium. It measures the first
// render (navigation until both tables show their counts and rows, endpoints included); for
// readiness changes made in the backend (a pod's Ready condition written through the status
// subresource), the time until the pod's row shows it; navigation between views from the
// sidebar; and, on an empty cluster, the landing page until it is live and what it transfers.
// The pods are bound to a node no kubelet runs, so their status is only what this script writes.
import { chromium } from '@playwright/test';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

const SERVICES = 1000;
const PODS_PER_SERVICE = 10;
const PODS = SERVICES * PODS_PER_SERVICE;
const RENDERS = 5;
const LANDINGS = 5;
const NAVIGATION_ROUNDS = 3;
// Each view the sidebar leads to, and what shows it is drawn.
const VIEWS = [
  ['Services', 'table[aria-label="Services"] tr[data-service]'],
  ['Pods', 'table[aria-label="Pods"] tr[data-pod]'],
  ['Workloads', 'table[aria-label="Controllers"]'],
  ['Ingresses', 'table[aria-label="Ingresses"]'],
  ['EndpointSlices', 'table[aria-label="EndpointSlices"] tbody tr'],
  ['Nodes', 'table[aria-label="Nodes"] tbody tr'],
  ['Events', 'table[aria-label="Events"]'],
  ['DNS', '#dns-name'],
  ['Terminal', '#terminal-pod'],
  ['Learn', 'article.learn-step'],
  ['Overview', 'section.summary'],
];
const FLIPS = 60;
const CONCURRENCY = 32;

const binary = process.env.SVCLAB_BIN ?? '../target/release/svclab';
const out = process.env.SVCLAB_BENCH_OUT ?? '../target/bench/dashboard.md';

function start(network = '127.78.1.0') {
  const child = spawn(binary, ['--ephemeral', '--listen', '127.0.0.1:0', '--dns', '127.0.0.1:0', '--nodes', '1',
    '--node-network', network, '--ingress-http', '127.0.0.1:0', '--ingress-https', '127.0.0.1:0'],
  { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' } });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const m = /http:\/\/([0-9.:]+)/.exec(line);
      if (m) resolve({ child, base: `http://${m[1]}` });
    });
    child.on('exit', (code) => reject(new Error(`svclab exited (${code}) before it was up`)));
  });
}

async function call(base, method, path, body) {
  const r = await fetch(base + path, { method, headers: { 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

async function pool(n, work) {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) await work(next++);
  }));
}

const podName = (i) => `p-${String(i).padStart(5, '0')}`;
const podIp = (i) => `10.250.${Math.floor(i / 250)}.${(i % 250) + 1}`;

function status(i, ready) {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  return {
    phase: 'Running', podIP: podIp(i), podIPs: [{ ip: podIp(i) }], hostIP: '127.78.1.200', startTime: now,
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: now },
                 { type: 'ContainersReady', status: ready ? 'True' : 'False', lastTransitionTime: now }],
    containerStatuses: [{ name: 'kubia', image: 'luksa/kubia', imageID: 'docker.io/luksa/kubia', ready,
                          restartCount: 0, started: true, state: { running: { startedAt: now } } }],
  };
}

async function populate(base) {
  await pool(SERVICES, (s) => call(base, 'POST', '/api/v1/namespaces/default/services', {
    apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${String(s).padStart(4, '0')}` },
    spec: { selector: { app: `svc-${s}` }, ports: [{ port: 80, targetPort: 8080 }] },
  }));
  await pool(PODS, async (i) => {
    const pod = await call(base, 'POST', '/api/v1/namespaces/default/pods', {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: podName(i), labels: { app: `svc-${Math.floor(i / PODS_PER_SERVICE)}` } },
      spec: { nodeName: 'bench-node', containers: [{ name: 'kubia', image: 'luksa/kubia', ports: [{ containerPort: 8080 }] }] },
    });
    pod.status = status(i, true);
    await call(base, 'PUT', `/api/v1/namespaces/default/pods/${podName(i)}/status`, pod);
  });
}

const percentile = (v, p) => { const s = [...v].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]; };

// The first render is timed in the page: a MutationObserver notices the moment the DOM holds
// both tables' counts, rows and a ready endpoint, and the time is taken at the next animation
// frame, when the browser paints it.
async function firstRender(browser, base) {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error') console.error(`page: ${m.text()}`); });
  page.on('pageerror', (e) => console.error(`page error: ${e}`));
  await page.addInitScript(([pods, services]) => {
    const complete = () => {
      const counts = [...document.querySelectorAll('h2 .count')].map((c) => Number(c.textContent));
      return counts.length >= 2 && counts[0] >= services && counts[1] >= pods
        && document.querySelector('tr[data-pod]') && document.querySelector('tr[data-service] .endpoint.ready');
    };
    document.addEventListener('DOMContentLoaded', () => {
      const observer = new MutationObserver(() => {
        if (!complete()) return;
        observer.disconnect();
        requestAnimationFrame(() => { window.__rendered = performance.now(); });
      });
      observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    });
  }, [PODS, SERVICES]);
  await page.goto(base + '/');
  await page.waitForFunction(() => window.__rendered, null, { timeout: 60_000 }).catch(async (e) => {
    await page.screenshot({ path: 'test-results/dashboard-bench-timeout.png' });
    throw e;
  });
  const ms = await page.evaluate(() => window.__rendered);
  return { page, ms };
}

// The landing page on an empty cluster, until it is interactive (the app drawn and its feed
// live), timed in the page like the first render; and the bytes it transferred, compressed.
async function landing(browser) {
  const { child, base } = await start('127.78.2.0');
  try {
    const times = [];
    let transfer = 0;
    for (let i = 0; i < LANDINGS; i++) {
      const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
      const page = await context.newPage();
      await page.addInitScript(() => {
        document.addEventListener('DOMContentLoaded', () => {
          const observer = new MutationObserver(() => {
            if (!document.querySelector('.connection[data-state="live"]') || !document.querySelector('nav.sidebar a')) return;
            observer.disconnect();
            requestAnimationFrame(() => { window.__interactive = performance.now(); });
          });
          observer.observe(document.body, { subtree: true, childList: true, attributes: true });
        });
      });
      await page.goto(base + '/');
      await page.waitForFunction(() => window.__interactive, null, { timeout: 30_000 });
      times.push(await page.evaluate(() => window.__interactive));
      // A fresh context has an empty cache: everything the page needed came over the wire.
      transfer = await page.evaluate(() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
        .reduce((sum, e) => sum + (e.encodedBodySize || 0), 0));
      await context.close();
    }
    return { times, transfer };
  } finally {
    child.kill();
  }
}

// From a click in the sidebar until the view it leads to is drawn (timed in the page, at the
// next animation frame), each view in turn, a few rounds; then a service's page from its link.
async function navigation(page) {
  await page.evaluate(() => {
    window.__navigate = (link, selector) => new Promise((resolve) => {
      const start = performance.now();
      const done = () => requestAnimationFrame(() => resolve(performance.now() - start));
      const observer = new MutationObserver(() => { if (document.querySelector(selector)) { observer.disconnect(); done(); } });
      observer.observe(document.body, { subtree: true, childList: true, attributes: true });
      link.click();
    });
  });
  const times = [];
  for (let round = 0; round < NAVIGATION_ROUNDS; round++) {
    for (const [view, selector] of VIEWS) {
      const ms = await page.evaluate(([view, selector]) => {
        const link = [...document.querySelectorAll('nav.sidebar a')].find((a) => a.textContent.startsWith(view));
        return window.__navigate(link, selector);
      }, [view, selector]);
      times.push({ view, ms });
    }
    const ms = await page.evaluate(() => {
      const link = document.querySelector('table[aria-label="Services"] a.name-link');
      return window.__navigate(link, '[data-testid="service-page"] tr[data-service]');
    });
    times.push({ view: 'a service page', ms });
  }
  return times;
}

async function main() {
  const { child, base } = await start();
  try {
    const began = Date.now();
    await populate(base);
    const populated = (Date.now() - began) / 1000;
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
    const renders = [];
    let page;
    for (let i = 0; i < RENDERS; i++) {
      if (page) await page.close();
      ({ page, ms: renders[i] } = await firstRender(browser, base));
      console.error(`first render ${i + 1}: ${renders[i].toFixed(0)} ms`);
    }
    await page.evaluate(() => {
      window.__waiters = [];
      new MutationObserver(() => { window.__waiters = window.__waiters.filter((check) => !check()); })
        .observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
      window.__wait = (pod, unready) => {
        window.__seen = new Promise((resolve) => {
          const check = () => {
            const row = document.querySelector(`tr[data-pod="${pod}"]`);
            if (row && row.classList.contains('unready') === unready) { resolve(Date.now()); return true; }
            return false;
          };
          if (!check()) window.__waiters.push(check);
        });
      };
    });
    const latencies = [];
    const views = await navigation(page);
    await page.evaluate(() => document.querySelector('nav.sidebar a').click());
    await page.waitForSelector('table[aria-label="Pods"] tr[data-pod]');
    for (let k = 0; k < FLIPS; k++) {
      const i = k % 20;
      const ready = k % 40 >= 20;  // first 20 flips make pods unready, the next 20 ready again…
      const pod = await call(base, 'GET', `/api/v1/namespaces/default/pods/${podName(i)}`);
      pod.status = status(i, ready);
      await page.evaluate(([name, unready]) => window.__wait(name, unready), [podName(i), !ready]);
      const sent = Date.now();
      await call(base, 'PUT', `/api/v1/namespaces/default/pods/${podName(i)}/status`, pod);
      const seen = await page.evaluate(() => window.__seen);
      latencies.push(seen - sent);
    }
    const land = await landing(browser);
    await browser.close();
    const r = { p50: percentile(renders, 0.5), max: Math.max(...renders) };
    const nav = views.map((v) => v.ms);
    const n = { p50: percentile(nav, 0.5), p95: percentile(nav, 0.95), max: Math.max(...nav) };
    const slowest = views.reduce((a, b) => (b.ms > a.ms ? b : a));
    const lt = { p50: percentile(land.times, 0.5), max: Math.max(...land.times) };
    const kb = land.transfer / 1000;
    const l = { p50: percentile(latencies, 0.5), p95: percentile(latencies, 0.95), max: Math.max(...latencies) };
    const version = (await import('@playwright/test/package.json', { with: { type: 'json' } })).default.version;
    const md = `## Dashboard at 1,000 services and 10,000 pods

Playwright ${version} driving Debian's chromium (1440×900) against a release svclab holding ${SERVICES} services × ${PODS_PER_SERVICE} pods (${PODS} pods with their Endpoints and EndpointSlices, set up in ${populated.toFixed(1)} s; the pods are bound to a node without a kubelet, so their status is what the benchmark writes). First render: from navigation until the browser paints both tables with their counts and rows, ready endpoints included (a MutationObserver in the page notices the DOM is complete; the time is taken at the next animation frame), ${RENDERS} page loads; the page lists the cluster (\`GET /lab/v1/state\`) while its WebAssembly loads, then watches from that list. Readiness: ${FLIPS} changes of a pod's Ready condition written through the status subresource, each timed from sending it until the pod's row in the DOM shows it (a MutationObserver in the page).

| measure | p50 | p95 | max |
| --- | ---: | ---: | ---: |
| first render | ${r.p50.toFixed(0)} ms | | ${r.max.toFixed(0)} ms |
| readiness change → DOM | ${l.p50.toFixed(0)} ms | ${l.p95.toFixed(0)} ms | ${l.max.toFixed(0)} ms |
| navigation between views | ${n.p50.toFixed(0)} ms | ${n.p95.toFixed(0)} ms | ${n.max.toFixed(0)} ms (${slowest.view}) |
| landing page interactive, empty cluster | ${lt.p50.toFixed(0)} ms | | ${lt.max.toFixed(0)} ms |

Navigation: from a click on the sidebar until the view it leads to is painted, each of the ${VIEWS.length} views and a service's page (from its NAME link), ${NAVIGATION_ROUNDS} rounds, at this scale. Landing: a fresh browser context (empty cache) opening \`/\` of an empty cluster until the app is drawn and its feed live, ${LANDINGS} times. Transfer: what that landing fetched, compressed as served (brotli): **${kb.toFixed(0)} KB**.

Targets: first render ≤ 1 s (${r.p50 <= 1000 ? 'met' : 'not met'}), readiness change → DOM p95 ≤ 100 ms (${l.p95 <= 100 ? 'met' : 'not met'}), navigation ≤ 100 ms (p95 ${n.p95 <= 100 ? 'met' : 'not met'}), landing interactive ≤ 300 ms (${lt.p50 <= 300 ? 'met' : 'not met'}), transfer ≤ 500 KB (${kb <= 500 ? 'met' : 'not met'}).
`;
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, md);
    console.log(md);
  } finally {
    child.kill();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
