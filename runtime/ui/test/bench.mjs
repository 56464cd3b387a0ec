// The console's weight and first paint, measured in Debian's chromium through playwright-core
// against an `oaasc serve` that bench/console.sh started with $OBJECTS `Detection` objects.
// Prints figures; asserts nothing about time (a loaded machine is slower, not wrong).
import { chromium } from 'playwright-core';

const BASE = process.env.OAAS_URL;
const TOKEN = process.env.OAAS_TOKEN;
const RUNS = Number(process.env.RUNS || 7);
const PAGE = '/ui#/objects/video.Detection';
// The same page filtered on a state field no index covers (the store reads every object of
// the class): one row, the object with frames_scanned 4321.
const FILTERED = PAGE + '?frames_scanned=4321';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});

// One cold load of a page of objects in a fresh context (no cache) until its table has
// `rows` rows: first contentful paint, largest contentful paint and when the page's content
// (the rows) was in the document, in ms from the navigation's start.
async function load(path = PAGE, rows = 100) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 760 } });
  await context.addInitScript((t) => sessionStorage.setItem('oaas-token', t), TOKEN);
  const page = await context.newPage();
  await page.goto(BASE + path);
  await page.locator('#objects tr').nth(rows).waitFor();
  const m = await page.evaluate(() => new Promise((resolve) => {
    new PerformanceObserver((list) => {
      const entries = list.getEntries();
      const fcp = performance.getEntriesByName('first-contentful-paint')[0];
      const rendered = performance.getEntriesByName('oaas-rendered').pop();
      resolve({ fcp: fcp && fcp.startTime, lcp: entries[entries.length - 1].startTime, rows: rendered && rendered.startTime });
    }).observe({ type: 'largest-contentful-paint', buffered: true });
  }));
  const weight = await page.evaluate(async () => {
    let total = 0;
    for (const p of ['/ui', '/ui/console.js', '/ui/console.css']) total += (await (await fetch(p)).arrayBuffer()).byteLength;
    return total;
  });
  await context.close();
  return { ...m, weight };
}

const runs = [], filtered = [];
await load(); // warms the server's and the store's caches
for (let i = 0; i < RUNS; i++) runs.push(await load());
for (let i = 0; i < RUNS; i++) filtered.push(await load(FILTERED, 1));
await browser.close();

const stats = (key, from = runs) => {
  const v = from.map((r) => r[key]).sort((a, b) => a - b);
  return `min ${Math.round(v[0])} / median ${Math.round(v[v.length >> 1])} / max ${Math.round(v[v.length - 1])} ms`;
};
console.log(`page weight: ${runs[0].weight} bytes (index.html + console.js + console.css, uncompressed)`);
console.log(`objects page with ${process.env.OBJECTS} objects, ${RUNS} cold loads:`);
console.log(`  first contentful paint: ${stats('fcp')}`);
console.log(`  first 100 rows in the document: ${stats('rows')}`);
console.log(`  largest contentful paint: ${stats('lcp')}`);
console.log(`filtered on frames_scanned=4321 (one row), ${RUNS} cold loads:`);
console.log(`  the row in the document: ${stats('rows', filtered)}`);
