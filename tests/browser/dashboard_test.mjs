// The live dashboard end to end in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core from tests/browser/
// node_modules, which scripts/bootstrap installs) against a REAL
// `firstcome serve` with an admin token:
//   - the page loads with no script error and no Content-Security-Policy
//     violation, asks for the admin token and keeps it in sessionStorage
//     only;
//   - it shows the event, and the event's issued count moves (several
//     distinct values) while a burst (`firstcome bench`) runs, as do the
//     requests/s figure and the charts;
//   - a screenshot is written (path printed) under --artifacts;
//   - "Close" asks for confirmation and closes the event through the API
//     (POST /api/v1/events/{id}/close): the page shows "closed" and an
//     issue is then answered 403 not_open.
// Starts: one firstcome process, one Chromium. Run by ctest (label browser):
//   node dashboard_test.mjs --binary build/firstcome --artifacts build/browser-artifacts
import {spawn} from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import {fileURLToPath} from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const {chromium} = await import(path.join(here, "node_modules", "playwright-core", "index.mjs"));

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) =>
    (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
const binary = args.binary;
const artifacts = path.resolve(args.artifacts || "browser-artifacts");
const chromiumPath = args.chromium || "/usr/bin/chromium";
const TOKEN = "dashboard-test-admin-token";
const EVENT = "launch";

let failures = 0, passes = 0;
function check(ok, what) {
  if (ok) { passes++; console.log(`ok   ${what}`); } else { failures++; console.log(`FAIL ${what}`); }
  return ok;
}

async function until(what, condition, timeoutMs = 15000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await condition();
    if (last) return last;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return null;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const {port} = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

function exited(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once("exit", (code, signal) => resolve(code ?? 128 + (os.constants.signals[signal] || 0)));
  });
}

fs.mkdirSync(artifacts, {recursive: true});
const work = fs.mkdtempSync(path.join(os.tmpdir(), "fc-dashboard-test-"));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const serverLog = path.join(artifacts, "dashboard-server.log");
const server = spawn(binary, ["serve", "--bind", "127.0.0.1", "--port", String(port),
                              "--data-dir", path.join(work, "data"), "--admin-token", TOKEN],
                     {stdio: ["ignore", fs.openSync(serverLog, "w"), fs.openSync(serverLog, "a")]});
let context = null;
let bench = null;

async function api(method, target, body, token = TOKEN) {
  const headers = {Authorization: `Bearer ${token}`};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(base + target, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  let json = null;
  try { json = await r.json(); } catch (_) { /* not JSON */ }
  return {status: r.status, json};
}

try {
  check(await until("healthy", async () => {
    try { return (await fetch(base + "/healthz")).status === 200; } catch (_) { return false; }
  }, 30000), "the server is healthy");
  check((await api("POST", "/api/v1/events", {id: EVENT, total: 100000, name: "Launch drop"})).status === 201,
        "event created");
  check((await api("POST", "/api/v1/events", {id: "encore", total: 500, name: "Encore"})).status === 201,
        "a second event created");

  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "fc-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: {width: 1400, height: 860},
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", "--disable-sync"],
  });
  const page = context.pages()[0] || await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  // Console errors are script errors and CSP violations ("Refused to …"); an
  // API call answered 4xx/5xx is logged too ("Failed to load resource") and
  // is judged by the checks below instead.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
      problems.push(`console error: ${m.text()}`);
    }
  });

  const response = await page.goto(base + "/dashboard");
  check(response.status() === 200, "GET /dashboard answers 200");
  check((response.headers()["content-security-policy"] || "").includes("script-src 'self'"),
        "the page is served with a Content-Security-Policy");

  // The server has a token: the page asks for it.
  check(await page.locator("#token-form").isVisible(), "the page asks for the admin token");
  await page.fill("#token-input", TOKEN);
  await page.click("#token-save");
  check(await until("token form hidden", async () => !(await page.locator("#token-form").isVisible())),
        "the token form goes once the token is given");
  const storage = await page.evaluate(() => ({
    session: sessionStorage.getItem("firstcome.adminToken"), local: localStorage.length, cookies: document.cookie}));
  check(storage.session === TOKEN && storage.local === 0 && storage.cookies === "",
        "the token is in sessionStorage only (no localStorage, no cookie)");

  const row = page.locator(`#events tr[data-event="${EVENT}"]`);
  const issuedCell = row.locator('[data-field="issued"]');
  check(await until("event row", async () => (await row.count()) === 1 && (await issuedCell.textContent()) === "0"),
        "the page shows the event with 0 issued");
  check((await page.locator('#events tr[data-event="encore"]').count()) === 1, "and the other event");

  // A burst: the numbers must move while it runs.
  bench = spawn(binary, ["bench", "--target", base, "--event", EVENT, "--connections", "16",
                         "--rate", "1500", "--duration", "8", "--quiet"], {stdio: ["ignore", "pipe", "pipe"]});
  let benchOutput = "";
  bench.stdout.on("data", (d) => { benchOutput += d; });
  bench.stderr.on("data", (d) => { benchOutput += d; });
  const seen = new Set();
  let rpsSeen = 0;
  const benchDone = exited(bench);
  let benchCode = null;
  benchDone.then((code) => { benchCode = code; });
  while (benchCode === null) {
    const text = await issuedCell.textContent();
    seen.add(Number(text.replace(/,/g, "")));
    const rps = Number(((await page.textContent("#now-rps")) || "").replace(/,/g, ""));
    if (rps > rpsSeen) rpsSeen = rps;
    await page.waitForTimeout(200);
  }
  check(benchCode === 0, `firstcome bench ran (exit ${benchCode})`);
  if (benchCode !== 0) console.log(benchOutput);
  const values = [...seen].filter((v) => v > 0).sort((a, b) => a - b);
  check(values.length >= 3, `issued moved during the burst (values seen: ${values.slice(0, 8).join(", ")}…)`);
  check(rpsSeen > 100, `requests/s showed the burst (max ${rpsSeen})`);
  const finalIssued = (await api("GET", `/api/v1/events/${EVENT}`)).json.issued;
  check(await until("final count", async () =>
      Number((await issuedCell.textContent()).replace(/,/g, "")) === finalIssued, 5000),
        `the page settles on the server's count (${finalIssued})`);
  check(await until("persisted", async () =>
      Number((await row.locator('[data-field="persisted"]').textContent()).replace(/,/g, "")) === finalIssued, 30000),
        "persisted catches up on the page");
  const chartDrawn = await page.evaluate(() => {
    const c = document.getElementById("chart-rps");
    const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let colored = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 0 && data[i] !== data[i + 1]) colored++;
    return colored;
  });
  check(chartDrawn > 50, "the requests/s chart is drawn");

  const shot = path.join(artifacts, "dashboard.png");
  await page.screenshot({path: shot, fullPage: true});
  console.log(`screenshot: ${shot}`);

  // Close from the page: a confirmation first, then the API call.
  await row.locator('button[data-action="close"]').click();
  check(await page.locator("#confirm-dialog").isVisible(), "Close asks for confirmation");
  await page.click("#confirm-ok");
  const closed = await until("closed", async () =>
      (await row.locator('[data-field="state"]').textContent()) === "closed", 10000);
  if (!check(closed, "the page shows the event closed")) {
    console.log(`  message on the page: ${await page.textContent("#message")}`);
  }
  const after = await api("POST", `/api/v1/events/${EVENT}/issue`, {user_id: "after-close"});
  check(after.status === 403 && after.json && after.json.status === "not_open",
        `an issue after the close is 403 not_open (got ${after.status})`);
  await page.screenshot({path: path.join(artifacts, "dashboard-closed.png"), fullPage: true});

  check(problems.length === 0, "no script error or CSP violation" + (problems.length ? ":\n  " + problems.join("\n  ") : ""));
} catch (e) {
  check(false, `unexpected error: ${e.stack || e}`);
} finally {
  if (bench && bench.exitCode === null) bench.kill("SIGKILL");
  if (context) await context.close();
  if (server.exitCode === null) {
    server.kill("SIGTERM");
    const code = await Promise.race([exited(server), new Promise((r) => setTimeout(() => r("timeout"), 30000))]);
    if (code === "timeout") server.kill("SIGKILL");
    check(code === 0, `the server stopped cleanly (exit ${code})`);
  }
  fs.rmSync(work, {recursive: true, force: true});
}
console.log(`server log: ${serverLog}`);
console.log(`${passes} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
