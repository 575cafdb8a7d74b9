// Opens one HTML file in Debian's headless chromium, as a reader would, and checks it.
//
// usage: node render.mjs <page.html> <screenshot.png>
// Prints one JSON line {"charts", "drawn", "undrawn", "console_errors", "page_errors", "requests"}
// and exits 1 if the page logged an error, threw, asked for anything but itself (a self-contained
// report opens offline), or left a chart undrawn. The Rust test (stack/tests/report_in_browser.rs)
// runs it and reports the line.
import { chromium } from 'playwright-core';
import { pathToFileURL } from 'node:url';

const [page_path, screenshot_path] = process.argv.slice(2);
if (!page_path || !screenshot_path) {
  console.error('usage: node render.mjs <page.html> <screenshot.png>');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const page_url = pathToFileURL(page_path).href;

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const outcome = { charts: 0, drawn: 0, undrawn: [], console_errors: [], page_errors: [], requests: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') {
      outcome.console_errors.push(`${message.type()}: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => outcome.page_errors.push(String(error)));
  page.on('request', (request) => {
    if (request.url() !== page_url) outcome.requests.push(request.url());
  });
  await page.goto(page_url, { waitUntil: 'load' });
  // The page sets data-drawn on each chart's canvas when Chart.js has rendered it.
  await page.waitForFunction(
    () => document.body.dataset.charts === 'done', null, { timeout: 15000 },
  ).catch(() => outcome.page_errors.push('the page never finished drawing its charts (15 s)'));
  const charts = await page.$$eval('canvas[data-chart]', (canvases) => canvases.map((c) => ({
    id: c.dataset.chart, drawn: c.dataset.drawn === 'true' && c.width > 0 && c.height > 0,
  })));
  outcome.charts = charts.length;
  outcome.drawn = charts.filter((c) => c.drawn).length;
  outcome.undrawn = charts.filter((c) => !c.drawn).map((c) => c.id);
  await page.screenshot({ path: screenshot_path, fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(outcome));
const failed = outcome.charts === 0 || outcome.undrawn.length > 0 || outcome.console_errors.length > 0
  || outcome.page_errors.length > 0 || outcome.requests.length > 0;
process.exit(failed ? 1 : 0);
