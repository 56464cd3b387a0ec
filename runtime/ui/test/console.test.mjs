// The console in a real browser: Debian's chromium driven by playwright-core, against an
// `oaasc serve` that runtime/ui/test.sh started with examples/video deployed and 10,000
// `Detection` objects made. Screenshots go to $SCREENSHOTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.OAAS_URL;
const TOKEN = process.env.OAAS_TOKEN;
const CLIP = process.env.CLIP;
const SHOTS = process.env.SCREENSHOTS || 'target/console-screenshots';
const LONG = 180_000; // the video macro runs real OpenCV containers

let browser, page, nodeCount, graphJson;

// Every node of a graph, the bodies of `for` nodes included.
const countNodes = (g) => g.nodes.reduce((n, x) => n + 1 + (x.body ? countNodes(x.body) : 0), 0);

async function shot(name) {
  await page.screenshot({ path: join(SHOTS, name + '.png') });
}

async function api(path, body) {
  const r = await fetch(BASE + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { Authorization: 'Bearer ' + TOKEN, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(r.ok, `${path}: ${r.status} ${await r.clone().text()}`);
  return r.json();
}

// Starts a macro from the object page's form and waits for the invocation page.
async function startFromForm(objectId, macro, fill) {
  await page.goto(`${BASE}/ui#/object/${objectId}`);
  const form = page.locator(`form[data-call="${macro}"]`);
  await form.waitFor();
  for (const [name, value] of Object.entries(fill)) await form.locator(`[name="${name}"]`).fill(value);
  await page.evaluate(() => window.seenStatuses.clear());
  await form.locator('button[type=submit]').click();
  await page.waitForURL(/#\/invocation\//);
  await page.locator('#graph svg').waitFor();
  return page.url().split('#/invocation/')[1];
}

before(async () => {
  assert.ok(BASE && TOKEN && CLIP, 'run through runtime/ui/test.sh (OAAS_URL, OAAS_TOKEN, CLIP)');
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
  // Every status a node of an invocation's graph is drawn with, as the page redraws it.
  await page.addInitScript(() => {
    window.seenStatuses = new Set();
    new MutationObserver(() => {
      for (const n of document.querySelectorAll('#graph g.node')) window.seenStatuses.add(n.dataset.status);
    }).observe(document, { subtree: true, childList: true });
  });
  page.on('pageerror', (e) => console.error('page error:', e));
});

after(async () => {
  if (browser) await browser.close();
});

test('signing in shows the packages; the page weighs under 500 KB', async () => {
  await page.goto(BASE + '/ui');
  await page.locator('#token').fill(TOKEN);
  await page.locator('#login button').click();
  await page.locator('a[href="#/package/video"]').waitFor();
  const weight = await page.evaluate(async () => {
    let total = 0;
    for (const p of ['/ui', '/ui/console.js', '/ui/console.css']) total += (await (await fetch(p)).arrayBuffer()).byteLength;
    return total;
  });
  assert.ok(weight < 500 * 1024, `${weight} bytes`);
  await shot('packages');
});

test('a class shows its source, members and the macro graph', async () => {
  await page.goto(BASE + '/ui#/class/video.Video');
  const graph = page.locator('section[data-macro="detect_faces"] svg');
  await graph.waitFor();
  const described = await api('/api/classes/video.Video');
  graphJson = described.macros.find((m) => m.name === 'detect_faces').graph;
  nodeCount = countNodes(graphJson);
  assert.ok(nodeCount >= 6, 'split, for, extract_frames, flatten, for, detect_faces, merge');
  assert.equal(await graph.locator('g.node').count(), nodeCount);
  await shot('class');
  await page.goto(BASE + '/ui#/package/video');
  await page.locator('pre.code .kw', { hasText: 'macro' }).first().waitFor();
  await shot('source');
});

let video, videoRun, detection;
test('a video made from the form runs detect_faces live, every node turning green', { timeout: LONG }, async () => {
  await page.goto(BASE + '/ui#/class/video.Video');
  const form = page.locator('form[data-new-object]');
  await form.locator('[name="title"]').fill('clip');
  await form.locator('[name="file-src"]').setInputFiles(CLIP);
  await form.locator('button[type=submit]').click();
  await page.waitForURL(/#\/object\//);
  video = page.url().split('#/object/')[1];
  await page.locator('[data-file="src"] video').waitFor();
  const id = await startFromForm(video, 'detect_faces', { every_s: '1' });
  // The graph is live: statuses arrive over the event stream until every node is green.
  await page.locator('#status [data-status="succeeded"]').waitFor({ timeout: LONG });
  await page.waitForFunction((count) => {
    const nodes = [...document.querySelectorAll('#graph g.node')];
    return nodes.length === count && nodes.every((n) => n.dataset.status === 'succeeded');
  }, nodeCount, { timeout: 10_000 });
  // Drawn before it finished, then turned green without a reload: the events moved it.
  const seen = await page.evaluate(() => [...window.seenStatuses]);
  console.log(`node statuses drawn while detect_faces ran: ${seen.join(', ')}`);
  assert.ok(seen.some((s) => s === 'pending' || s === 'running'), `statuses drawn: ${seen}`);
  const record = await api('/api/invocations/' + id);
  assert.equal(record.status, 'succeeded');
  assert.equal(record.result.state.frames_scanned, 7, JSON.stringify(record.result));
  [videoRun, detection] = [id, record.result.id];
  // Each node's inputs, output and timings; the one-per-frame node expands into its elements.
  await page.locator('g.node[data-node="n0"]').click();
  const split = page.locator('#details .card[data-key="n0"]');
  await split.waitFor();
  assert.match(await split.textContent(), /succeeded.*\d+ ms/);
  assert.match(await page.locator('#details').textContent(), /segment_s/);
  const perFrame = graphJson.nodes.flatMap((n) => (n.body ? n.body.nodes : [])).find((n) => /detect_faces/.test(n.label));
  assert.ok(perFrame, 'the body of `for f in flatten(frames)`');
  await page.locator(`g.node[data-node="n${perFrame.id}"]`).click();
  const fanout = page.locator(`#details details.fanout[data-fanout="n${perFrame.id}"]`);
  await fanout.locator('summary').click();
  await fanout.locator('.card').first().waitFor();
  assert.equal(await fanout.locator('.card').count(), 7, 'one element per frame scanned');
  assert.equal(await fanout.locator('.card [data-status="succeeded"]').count(), 7);
  await shot('invocation-succeeded');
});

test('run again on the same video, every call is answered by its recorded result', { timeout: LONG }, async () => {
  const id = await startFromForm(video, 'detect_faces', { every_s: '1' });
  await page.locator('#status [data-status="succeeded"]').waitFor({ timeout: LONG });
  const record = await api('/api/invocations/' + id);
  assert.equal(record.result.id, detection, 'the Detection the first run made');
  // split, extract_frames on the one part, detect_faces per frame, merge: all `@memo`.
  const reused = Object.values(record.nodes).filter((n) => n.reused).length;
  assert.equal(reused, 3 + record.result.state.frames_scanned, JSON.stringify(record.nodes));
  await page.locator('g.node[data-node="n0"]').click();
  await page.locator('#details .card[data-key="n0"] .badge.reused').waitFor();
  await shot('invocation-reused');
});

test("a failing macro's red node shows its source line", { timeout: LONG }, async () => {
  // A video whose file was never uploaded: `split` cannot read it.
  const made = await api('/api/classes/video.Video/objects', { title: 'no file' });
  await startFromForm(made.result.id, 'detect_faces', {});
  await page.locator('#graph g.node[data-node="n0"][data-status="failed"]').waitFor({ timeout: LONG });
  const line = page.locator('#details pre.code .hl');
  await line.first().waitFor();
  assert.match(await line.first().textContent(), /self\.split\(segment_s: 30\)/);
  const failure = page.locator('#failures .failure');
  await failure.first().waitFor();
  assert.match(await failure.first().textContent(), /video\.oaas, line \d+/);
  assert.equal(await page.locator('#graph g.node[data-status="skipped"]').count() > 0, true);
  await shot('invocation-failed');
});

test("an object's versions show what changed, and the invocations that touched it", async () => {
  await page.goto(`${BASE}/ui#/object/${video}`);
  const form = page.locator('form[data-call="retitle"]');
  await form.waitFor({ state: 'attached' });
  await page.locator('summary', { hasText: 'retitle(' }).click();
  await form.locator('[name="title"]').fill('clip, retitled');
  await form.locator('button[type=submit]').click();
  await page.locator('.call-result pre').first().waitFor();
  await page.reload();
  const versions = page.locator('#versions');
  await versions.waitFor();
  assert.ok((await versions.locator('th', { hasText: /^v\d/ }).count()) >= 2);
  assert.match(await versions.locator('td.changed').first().textContent(), /retitled/);
  assert.equal(await page.locator(`#invocations a[href="#/invocation/${videoRun}"]`).count(), 1, 'the detect_faces run on it');
  await shot('object-versions');
  // The Detection that run made was touched by it too: its merge node wrote the first version.
  await page.goto(`${BASE}/ui#/object/${detection}`);
  await page.locator(`#invocations a[href="#/invocation/${videoRun}"]`).waitFor();
});

test('10,000 objects: a page of them, a filter, the next page', async () => {
  // (bench/console.sh measures the first paint and the page weight with these 10,000.)
  const fresh = await browser.newPage({ viewport: { width: 1200, height: 760 } });
  await fresh.goto(BASE + '/ui');
  await fresh.evaluate((t) => sessionStorage.setItem('oaas-token', t), TOKEN);
  await fresh.goto(BASE + '/ui#/objects/video.Detection');
  await fresh.locator('#objects tr').nth(100).waitFor();
  assert.equal(await fresh.locator('#objects tr').count(), 101);
  await fresh.locator('#filter').fill('frames_scanned=4321');
  await fresh.locator('#filter').press('Enter');
  await fresh.waitForFunction(() => document.querySelectorAll('#objects tr').length === 2);
  assert.match(await fresh.locator('#objects tr').nth(1).textContent(), /4321/);
  await fresh.goto(BASE + '/ui#/objects/video.Detection');
  await fresh.locator('#objects tr').nth(100).waitFor();
  const firstId = await fresh.locator('#objects tr').nth(1).locator('td').first().textContent();
  await fresh.locator('#next').click();
  await fresh.waitForFunction((id) => {
    const row = document.querySelectorAll('#objects tr')[1];
    return row && !row.textContent.includes(id);
  }, firstId);
  page = fresh;
  await shot('objects');
});

test('the invocations list links to each run', async () => {
  await page.goto(BASE + '/ui#/invocations');
  await page.locator('#invocations [data-status="failed"]').first().waitFor();
  await page.locator('#invocations [data-status="succeeded"]').first().waitFor();
  await shot('invocations');
});
