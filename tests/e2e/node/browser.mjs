// Drives Debian's Chromium (headless, fresh profile) through static/app.html, served by
// auth-server.mjs (STATIC_DIR), which signs up with Better Auth and calls the Todo API cross-origin.
//
//   PAGE_URL        the page, e.g. http://127.0.0.1:3000/app.html           (or argv[2])
//   API_URL         the Todo API base, e.g. http://127.0.0.1:8123           (or argv[3])
//   EXPECT_BLOCKED  "1": the page's origin is NOT allowed by the API; pass only if the browser
//                   refuses the cross-origin calls (fetch rejects with TypeError)
//   CHROMIUM_PATH   default /usr/bin/chromium
//   TIMEOUT_MS      whole-run limit, default 60000
//
// Prints exactly one JSON line on stdout. Exit codes: 0 every step as expected, 1 some step not
// as expected, 2 bad configuration, 3 infrastructure failure (browser, page load, timeout).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const pageUrlArg = process.env.PAGE_URL || process.argv[2] || "";
const apiUrl = (process.env.API_URL || process.argv[3] || "").replace(/\/+$/, "");
const expectBlocked = ["1", "true", "yes"].includes((process.env.EXPECT_BLOCKED || "").toLowerCase());
const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const timeoutMs = Number(process.env.TIMEOUT_MS || 60000);

const started = Date.now();
let printed = false;
function finish(code, result) {
  if (!printed) {
    printed = true;
    process.stdout.write(JSON.stringify({ ...result, elapsed_ms: Date.now() - started }) + "\n");
  }
  process.exitCode = code;
}

if (!pageUrlArg || !apiUrl) {
  finish(2, { ok: false, error: "PAGE_URL and API_URL are required" });
  process.exit(2);
}
let pageUrl;
try {
  const u = new URL(pageUrlArg);
  new URL(apiUrl);
  u.searchParams.set("api", apiUrl);
  u.searchParams.set("mode", expectBlocked ? "blocked" : "full");
  pageUrl = u.toString();
} catch (err) {
  finish(2, { ok: false, error: `bad URL: ${err.message}` });
  process.exit(2);
}
if (!fs.existsSync(executablePath)) {
  finish(3, { ok: false, error: `no browser at ${executablePath} (apt-get install -y chromium)` });
  process.exit(3);
}

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "todo-e2e-chromium-"));
let launching = null; // the launch promise, so a timeout during launch still closes the browser

function within(ms, promise) {
  let timer;
  return Promise.race([
    Promise.resolve(promise).catch(() => null),
    new Promise((resolve) => { timer = setTimeout(() => resolve(null), ms); }),
  ]).finally(() => clearTimeout(timer));
}

let cleaning = null;
function cleanup() {
  cleaning ??= doCleanup(); // once, even when the watchdog and main() both get here
  return cleaning;
}

async function doCleanup() {
  if (launching) {
    const pending = launching;
    launching = null;
    const context = await within(10000, pending);
    if (context) await within(5000, context.close());
  }
  try {
    fs.rmSync(userDataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  } catch (err) {
    process.stderr.write(`browser.mjs: could not remove ${userDataDir}: ${err.message}\n`);
  }
}

// Hard stop: whatever hangs, the process ends.
const watchdog = setTimeout(async () => {
  finish(3, { ok: false, error: `timed out after ${timeoutMs} ms` });
  await cleanup().catch(() => {});
  process.exit(3);
}, timeoutMs);
process.on("exit", () => {
  if (!printed) {
    process.stdout.write(JSON.stringify({ ok: false, error: "exited without a result", elapsed_ms: Date.now() - started }) + "\n");
    process.exitCode = 3;
  }
});

const consoleLines = [];
const failedRequests = [];

async function main() {
  // In blocked mode, prove the API itself is up, so a browser TypeError means CORS, not a dead server.
  let apiReachable = null;
  if (expectBlocked) {
    try {
      const res = await fetch(`${apiUrl}/api/probe/tasks`, { signal: AbortSignal.timeout(5000) });
      apiReachable = { status: res.status };
      await res.arrayBuffer();
    } catch (err) {
      apiReachable = { error: String(err) };
    }
  }

  launching = chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    timeout: 30000,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const context = await launching;
  const browserVersion = context.browser()?.version() ?? null;
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(30000);
  page.on("console", (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`.slice(0, 500)));
  page.on("pageerror", (err) => consoleLines.push(`pageerror: ${err.message}`.slice(0, 500)));
  page.on("requestfailed", (req) =>
    failedRequests.push({ method: req.method(), url: req.url(), failure: req.failure()?.errorText ?? null }),
  );

  const response = await page.goto(pageUrl, { waitUntil: "load", timeout: 15000 });
  if (!response || response.status() !== 200) {
    return finish(3, { ok: false, error: `page load: HTTP ${response ? response.status() : "no response"}`, page_url: pageUrl });
  }
  await page.waitForFunction(() => window.__done === true, null, { timeout: Math.max(1000, timeoutMs - (Date.now() - started) - 5000), polling: 100 });
  const { results, ok } = await page.evaluate(() => ({ results: window.__results, ok: window.__ok }));

  const allOk = ok === true && Array.isArray(results) && results.length > 0 && results.every((r) => r.ok);
  // Blocked mode: the refusal must come from CORS (Chromium says so on the console).
  const corsMessage = consoleLines.some((l) => /CORS policy/i.test(l));
  const blockedOk = expectBlocked ? allOk && corsMessage && apiReachable && apiReachable.status !== undefined : true;
  const pass = allOk && blockedOk;
  finish(pass ? 0 : 1, {
    ok: pass,
    mode: expectBlocked ? "blocked" : "full",
    page_url: pageUrl,
    api_url: apiUrl,
    browser_version: browserVersion,
    ...(expectBlocked ? { api_reachable_from_node: apiReachable, cors_console_message: corsMessage } : {}),
    results,
    failed_requests: failedRequests,
    console: consoleLines,
  });
}

try {
  await main();
} catch (err) {
  finish(3, { ok: false, error: `${err?.name}: ${err?.message}`.slice(0, 2000), failed_requests: failedRequests, console: consoleLines });
} finally {
  await cleanup().catch(() => {});
  clearTimeout(watchdog);
}
