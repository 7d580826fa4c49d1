// A headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core, controlled by the
// Python tests over stdin/stdout: one JSON command per line in, one JSON answer per line out.
//   in:  {"id": 1, "cmd": "goto", "args": {"url": "http://..."}}
//   out: {"id": 1, "ok": true, "result": ...}   or   {"id": 1, "ok": false, "error": "..."}
// Every response body the page receives is kept (text, up to 2 MB each) so that a test can check
// what reached the browser (responsesContaining).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { chromium } from 'playwright-core';

const executablePath = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const userDataDir = mkdtempSync(join(tmpdir(), 'mcp-jobs-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  viewport: { width: 1440, height: 900 },
  timezoneId: 'UTC',
  locale: 'en-US',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
  ],
});
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(15000);

const bodies = [];
const consoleErrors = [];
page.on('console', (m) => {
  if (m.type() === 'error') consoleErrors.push(m.text());
});
page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
const failed = [];
context.on('response', async (r) => {
  if (r.status() >= 400) failed.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  try {
    const buf = await r.body();
    bodies.push({ url: r.url(), status: r.status(), text: buf.subarray(0, 2 * 1024 * 1024).toString('utf8') });
  } catch {
    // redirects and aborted requests have no body
  }
});

const commands = {
  goto: async ({ url }) => {
    const r = await page.goto(url, { waitUntil: 'domcontentloaded' });
    return r ? r.status() : null;
  },
  url: async () => page.url(),
  click: async ({ selector }) => page.locator(selector).first().click(),
  fill: async ({ selector, value }) => page.locator(selector).first().fill(value),
  select: async ({ selector, value }) => page.locator(selector).first().selectOption(value),
  check: async ({ selector }) => page.locator(selector).first().check(),
  press: async ({ selector, key }) => page.locator(selector).first().press(key),
  waitFor: async ({ selector, state = 'visible', timeout = 15000 }) => {
    await page.locator(selector).first().waitFor({ state, timeout });
    return true;
  },
  waitForUrl: async ({ pattern, timeout = 15000 }) => {
    await page.waitForURL(new RegExp(pattern), { timeout });
    return page.url();
  },
  // a JS predicate evaluated in the page until it returns something truthy
  waitForFunction: async ({ expression, timeout = 15000 }) => {
    const h = await page.waitForFunction(expression, undefined, { timeout, polling: 100 });
    return await h.jsonValue();
  },
  text: async ({ selector }) => page.locator(selector).first().innerText(),
  texts: async ({ selector }) => page.locator(selector).allInnerTexts(),
  count: async ({ selector }) => page.locator(selector).count(),
  attr: async ({ selector, name }) => page.locator(selector).first().getAttribute(name),
  attrs: async ({ selector, name }) => page.locator(selector).evaluateAll((els, n) => els.map((e) => e.getAttribute(n)), name),
  evaluate: async ({ expression }) => page.evaluate(expression),
  screenshot: async ({ path, fullPage = true }) => {
    await page.screenshot({ path, fullPage, animations: 'disabled' });
    return path;
  },
  cookies: async () => context.cookies(),
  responsesContaining: async ({ needle }) => bodies.filter((b) => b.text.includes(needle)).map((b) => b.url),
  responseCount: async () => bodies.length,
  consoleErrors: async () => consoleErrors.slice(),
  failedResponses: async () => failed.slice(),
};

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

async function shutdown(code) {
  try {
    await context.close();
  } finally {
    rmSync(userDataDir, { recursive: true, force: true });
    process.exit(code);
  }
}

out({ id: 0, ok: true, result: { ready: true, version: context.browser()?.version() ?? null } });

const rl = createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on('line', (line) => {
  chain = chain.then(async () => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      out({ id: null, ok: false, error: 'not JSON' });
      return;
    }
    if (msg.cmd === 'close') {
      out({ id: msg.id, ok: true, result: null });
      await shutdown(0);
      return;
    }
    const fn = commands[msg.cmd];
    if (!fn) {
      out({ id: msg.id, ok: false, error: `unknown command ${msg.cmd}` });
      return;
    }
    try {
      const result = await fn(msg.args ?? {});
      out({ id: msg.id, ok: true, result: result === undefined ? null : result });
    } catch (e) {
      out({ id: msg.id, ok: false, error: e instanceof Error ? e.message : String(e) });
    }
  });
});
rl.on('close', () => {
  void chain.then(() => shutdown(0));
});
