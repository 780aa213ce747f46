// The Firstcome live dashboard. Plain script, no build step, no library.
//
// Every second it reads GET /api/v1/events (each event's figures) and this
// process's GET /metrics, and derives requests/s by status, p99 latency and
// the lags from the difference between two scrapes; the charts keep the last
// five minutes since the page opened. Actions are the admin calls of the API
// ("Operators" in docs/api.md), each behind a confirmation.
//
// The admin token (asked for when the server has one) lives in
// sessionStorage only: gone when the tab closes. Every text from the server
// goes into the page as text (textContent), never as markup.
"use strict";

const POLL_MS = 1000;
const HISTORY = 300;             // samples kept: five minutes at one a second
const MIN_SPAN = 60;             // the charts show at least the last minute
const P99_WINDOW = 5;            // seconds of latency observations per p99 point
const TOKEN_KEY = "firstcome.adminToken";
// The dashboard's own calls are left out of the request figures.
const OWN_ROUTES = new Set(["metrics", "healthz", "dashboard", "openapi"]);
const COLORS = ["#1b8a4b", "#2f6fde", "#b7791f", "#c53030", "#805ad5", "#d53f8c", "#319795", "#718096"];

const $ = (id) => document.getElementById(id);
const tokenRequired =
  document.querySelector('meta[name="firstcome-admin-token"]').content === "required";

let previous = null;             // the last scrape: {t, requests, buckets}
const samples = [];              // {t, byStatus: Map, p99, logLag, consumerLag, errors}
const bucketDeltas = [];         // per sample: {bounds, counts} of that second
const statusColors = new Map();

// ---------------------------------------------------------------- token
function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

function showTokenForm() {
  const needed = tokenRequired && !token();
  $("token-form").hidden = !needed;
  $("token-forget").hidden = !token();
}

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const value = $("token-input").value.trim();
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  $("token-input").value = "";
  showTokenForm();
  poll();
});
$("token-forget").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showTokenForm();
});

// ---------------------------------------------------------------- calls
async function call(method, path, body) {
  const headers = {};
  if (token()) headers["Authorization"] = "Bearer " + token();
  const init = {method, headers, cache: "no-store"};
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch (_) { /* /metrics is text */ }
  if (response.status === 401 && tokenRequired) {
    sessionStorage.removeItem(TOKEN_KEY);
    showTokenForm();
  }
  return {status: response.status, ok: response.ok, text, json};
}

// ---------------------------------------------------------------- metrics
// Prometheus text → [{name, labels: {..}, value}].
function parseMetrics(text) {
  const out = [];
  const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/;
  const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = sample.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(label)) labels[l[1]] = l[2].replace(/\\(.)/g, "$1");
    out.push({name: m[1], labels, value: parseFloat(m[4])});
  }
  return out;
}

function summarize(metrics) {
  const requests = new Map();    // status → count (API routes only)
  const buckets = new Map();     // le → cumulative count (API routes only)
  const single = {};
  for (const s of metrics) {
    if (s.name === "firstcome_http_requests_total" && !OWN_ROUTES.has(s.labels.route)) {
      requests.set(s.labels.status, (requests.get(s.labels.status) || 0) + s.value);
    } else if (s.name === "firstcome_http_request_duration_seconds_bucket" &&
               !OWN_ROUTES.has(s.labels.route)) {
      const le = s.labels.le === "+Inf" ? Infinity : parseFloat(s.labels.le);
      buckets.set(le, (buckets.get(le) || 0) + s.value);
    } else if (!s.labels || Object.keys(s.labels).length === 0) {
      single[s.name] = s.value;
    }
  }
  return {requests, buckets, single};
}

// The q-quantile of a histogram {bounds (ascending, last Infinity), counts
// (per bucket)} with linear interpolation inside the bucket, as
// Prometheus's histogram_quantile does. null without observations.
function quantile(q, bounds, counts) {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total <= 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < bounds.length; i++) {
    if (seen + counts[i] >= rank) {
      if (bounds[i] === Infinity) return i > 0 ? bounds[i - 1] : null;
      const lower = i > 0 ? bounds[i - 1] : 0;
      return lower + (bounds[i] - lower) * ((rank - seen) / counts[i]);
    }
    seen += counts[i];
  }
  return bounds.length > 1 ? bounds[bounds.length - 2] : null;
}

function record(now, summary) {
  if (previous) {
    const dt = (now - previous.t) / 1000;
    const byStatus = new Map();
    let errors = 0;
    for (const [status, count] of summary.requests) {
      const rate = Math.max(0, count - (previous.requests.get(status) || 0)) / dt;
      byStatus.set(status, rate);
      if (status.startsWith("5")) errors += rate;
    }
    const bounds = [...summary.buckets.keys()].sort((a, b) => a - b);
    let before = 0, beforePrev = 0;
    const counts = bounds.map((le) => {
      const cumulative = summary.buckets.get(le) || 0;
      const cumulativePrev = previous.buckets.get(le) || 0;
      const c = Math.max(0, (cumulative - before) - (cumulativePrev - beforePrev));
      before = cumulative;
      beforePrev = cumulativePrev;
      return c;
    });
    bucketDeltas.push({bounds, counts});
    if (bucketDeltas.length > P99_WINDOW) bucketDeltas.shift();
    const merged = bounds.map((_, i) => bucketDeltas.reduce(
        (sum, d) => sum + (d.bounds.length === bounds.length ? d.counts[i] : 0), 0));
    const single = summary.single;
    samples.push({
      t: now, byStatus, errors, p99: quantile(0.99, bounds, merged),
      logLag: single.firstcome_log_lag,
      consumerLag: single.firstcome_consumer_lag,
      connections: single.firstcome_http_open_connections,
    });
    if (samples.length > HISTORY) samples.shift();
  }
  previous = {t: now, requests: summary.requests, buckets: summary.buckets};
}

// ---------------------------------------------------------------- drawing
function colorOf(status) {
  if (!statusColors.has(status)) statusColors.set(status, COLORS[statusColors.size % COLORS.length]);
  return statusColors.get(status);
}

function formatNumber(v, digits = 0) {
  if (v === undefined || v === null || Number.isNaN(v)) return "–";
  return v.toLocaleString("en-US", {maximumFractionDigits: digits, minimumFractionDigits: 0});
}

// Lines of `series` ([{label, color, values: [number|null]}]) over the
// sample times; y from 0 to the largest value.
function drawChart(canvas, series, unit) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width, height = canvas.clientHeight || canvas.height;
  if (canvas.width !== width * ratio) { canvas.width = width * ratio; canvas.height = height * ratio; }
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const left = 48, right = 8, top = 8, bottom = 20;
  const w = width - left - right, h = height - top - bottom;
  let max = 0;
  for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
  max = niceCeiling(max);
  g.strokeStyle = "#e3e6eb";
  g.fillStyle = "#667085";
  g.font = "11px system-ui, sans-serif";
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = top + h - (h * i) / 4;
    g.beginPath(); g.moveTo(left, y); g.lineTo(left + w, y); g.stroke();
    const tick = (max * i) / 4;
    g.fillText(formatNumber(tick, Number.isInteger(tick) ? 0 : max < 4 ? 2 : 1) + unit, 2, y + 4);
  }
  const n = Math.min(HISTORY, Math.max(MIN_SPAN, samples.length));
  g.fillText(`last ${Math.round((n * POLL_MS) / 1000)} s`, left, height - 4);
  for (const s of series) {
    g.strokeStyle = s.color;
    g.lineWidth = 1.8;
    g.beginPath();
    let drawing = false;
    s.values.forEach((v, i) => {
      const x = left + w - ((s.values.length - 1 - i) * w) / (n - 1);
      if (v === null || v === undefined) { drawing = false; return; }
      const y = top + h - (max > 0 ? (v / max) * h : 0);
      if (drawing) g.lineTo(x, y); else g.moveTo(x, y);
      drawing = true;
    });
    g.stroke();
  }
}

function niceCeiling(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function legend(element, series) {
  element.replaceChildren(...series.map((s) => {
    const item = document.createElement("span");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = s.color;
    item.append(swatch, s.label);
    return item;
  }));
}

function renderCharts() {
  const statuses = new Set();
  for (const s of samples) for (const [status, rate] of s.byStatus) if (rate > 0) statuses.add(status);
  const rps = [...statuses].sort().map((status) => ({
    label: status, color: colorOf(status),
    values: samples.map((s) => s.byStatus.get(status) || 0),
  }));
  drawChart($("chart-rps"), rps, "");
  legend($("legend-rps"), rps);
  drawChart($("chart-p99"), [{label: "p99", color: "#2f6fde",
    values: samples.map((s) => (s.p99 === null ? null : s.p99 * 1000))}], "");
  const lag = [
    {label: "log lag", color: "#805ad5", values: samples.map((s) => s.logLag ?? null)},
    {label: "consumer lag", color: "#b7791f",
     values: samples.map((s) => (s.consumerLag === undefined || s.consumerLag < 0 ? null : s.consumerLag))},
  ];
  drawChart($("chart-lag"), lag, "");
  legend($("legend-lag"), lag);

  const last = samples[samples.length - 1];
  if (!last) return;
  let total = 0;
  for (const rate of last.byStatus.values()) total += rate;
  $("now-rps").textContent = formatNumber(total);
  $("now-5xx").textContent = formatNumber(last.errors, 1);
  $("now-p99").textContent = last.p99 === null ? "–" : formatNumber(last.p99 * 1000, 2) + " ms";
  $("now-log-lag").textContent = formatNumber(last.logLag);
  $("now-consumer-lag").textContent =
      last.consumerLag === undefined ? "n/a" : last.consumerLag < 0 ? "unknown" : formatNumber(last.consumerLag);
  $("now-connections").textContent = formatNumber(last.connections);
}

// ---------------------------------------------------------------- events
const FIELDS = ["total", "issued", "remaining", "persisted", "failed", "dead"];

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

function button(label, action, id, danger) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.dataset.action = action;
  b.dataset.event = id;
  if (danger) b.className = "danger";
  return b;
}

function rowOf(id) {
  return document.querySelector(`#events tbody tr[data-event="${CSS.escape(id)}"]`);
}

function renderEvents(events) {
  const body = document.querySelector("#events tbody");
  const seen = new Set();
  for (const e of events) {
    seen.add(e.id);
    let row = rowOf(e.id);
    if (!row) {
      row = document.createElement("tr");
      row.dataset.event = e.id;
      const name = cell(e.id);
      name.dataset.field = "id";
      const state = document.createElement("td");
      const badge = document.createElement("span");
      badge.dataset.field = "state";
      state.append(badge);
      row.append(name, state);
      for (const f of FIELDS) {
        const td = cell("", "num");
        td.dataset.field = f;
        row.append(td);
      }
      const progress = document.createElement("td");
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.append(document.createElement("div"));
      progress.append(bar);
      const actions = document.createElement("td");
      const box = document.createElement("div");
      box.className = "actions";
      box.append(button("Close", "close", e.id), button("Open", "open", e.id),
                 button("Change total", "total", e.id), button("Revoke seq", "revoke", e.id),
                 button("Failed", "failed", e.id), button("Delete", "delete", e.id, true));
      actions.append(box);
      row.append(progress, actions);
      body.append(row);
    }
    row.cells[0].textContent = e.name ? `${e.id} · ${e.name}` : e.id;
    const badge = row.querySelector('[data-field="state"]');
    badge.textContent = e.state;
    badge.className = "state " + e.state;
    for (const f of FIELDS) row.querySelector(`[data-field="${f}"]`).textContent = formatNumber(e[f]);
    const done = e.total > 0 ? Math.min(100, (100 * e.issued) / e.total) : 0;
    row.querySelector(".bar > div").style.width = done.toFixed(1) + "%";
    row.querySelector('[data-action="close"]').hidden = e.state === "closed";
    row.querySelector('[data-action="open"]').hidden = e.state !== "closed";
  }
  for (const row of [...body.rows]) if (!seen.has(row.dataset.event)) row.remove();
  $("no-events").hidden = events.length > 0;
}

// ---------------------------------------------------------------- actions
// Asks for confirmation in the page's dialog; resolves to the input's value
// (or "" without an input) when confirmed, null when cancelled.
function confirmAction({title, text, input, placeholder, confirmLabel}) {
  return new Promise((resolve) => {
    const dialog = $("confirm-dialog");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = confirmLabel || "Confirm";
    const field = $("confirm-input"), label = $("confirm-input-label");
    field.hidden = label.hidden = !input;
    label.textContent = input || "";
    field.value = "";
    field.placeholder = placeholder || "";
    const done = (value) => {
      $("confirm-form").removeEventListener("submit", onSubmit);
      $("confirm-cancel").removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onSubmit = (e) => { e.preventDefault(); done(input ? field.value.trim() : ""); };
    const onCancel = (e) => { e.preventDefault(); done(null); };
    $("confirm-form").addEventListener("submit", onSubmit);
    $("confirm-cancel").addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    if (input) field.focus();
  });
}

function say(text, bad) {
  const m = $("message");
  m.textContent = text;
  m.className = bad ? "message bad" : "message";
}

function report(what, answer) {
  if (answer.ok) {
    say(`${what}: done (${answer.status})`);
  } else {
    const why = answer.json && answer.json.error ? `${answer.json.error}: ${answer.json.detail}` : answer.text;
    say(`${what}: ${answer.status} ${why}`, true);
  }
  poll();
}

const path = (id) => "/api/v1/events/" + encodeURIComponent(id);

const ACTIONS = {
  async close(id) {
    if (await confirmAction({title: `Close ${id}?`, confirmLabel: "Close",
        text: "Issue requests will be answered 403 not_open until it is opened again."}) === null) return;
    report(`close ${id}`, await call("POST", path(id) + "/close", {}));
  },
  async open(id) {
    if (await confirmAction({title: `Open ${id} again?`, confirmLabel: "Open",
        text: "Its state comes from the clock and the count again."}) === null) return;
    report(`open ${id}`, await call("POST", path(id) + "/open", {}));
  },
  async total(id) {
    const value = await confirmAction({title: `Change the total of ${id}`, input: "New total",
        placeholder: "e.g. 1000", confirmLabel: "Change",
        text: "Raise it mid-drop, or lower it down to what is issued (below: refused)."});
    if (value === null) return;
    const total = Number(value);
    if (!Number.isInteger(total) || total < 1) return say(`not a total: ${value}`, true);
    report(`total of ${id}`, await call("PATCH", path(id), {total}));
  },
  async revoke(id) {
    const value = await confirmAction({title: `Revoke a coupon of ${id}`, input: "Seq",
        placeholder: "e.g. 17", confirmLabel: "Revoke",
        text: "The coupon's row and gate slot go; the seq is handed to the next user."});
    if (value === null) return;
    if (!/^[1-9][0-9]*$/.test(value)) return say(`not a seq: ${value}`, true);
    report(`revoke ${id} #${value}`, await call("DELETE", `${path(id)}/coupons/${value}`));
  },
  async delete(id) {
    const value = await confirmAction({title: `Delete ${id}?`, input: `Type ${id} to confirm`,
        confirmLabel: "Delete",
        text: "Gate state, log effect, store rows and failed events of the event all go. For rehearsals."});
    if (value === null) return;
    if (value !== id) return say("delete: the id typed does not match; nothing deleted", true);
    report(`delete ${id}`, await call("DELETE", `${path(id)}?confirm=${encodeURIComponent(value)}`));
  },
  async failed(id) {
    await showFailed(id);
  },
};

async function showFailed(id) {
  const answer = await call("GET", path(id) + "/failed");
  if (!answer.ok || !answer.json) return report(`failed events of ${id}`, answer);
  $("failed-panel").hidden = false;
  $("failed-event").textContent = id;
  const body = document.querySelector("#failed tbody");
  body.replaceChildren(...answer.json.failed.map((f) => {
    const row = document.createElement("tr");
    row.append(cell(String(f.seq), "num"), cell(f.user_id), cell(f.coupon_id), cell(f.error, "error"),
               cell(String(f.attempts), "num"), cell(f.next_attempt_at || "–"), cell(f.dead ? "dead" : ""));
    const td = document.createElement("td");
    const b = button("Retry now", "retry", id);
    b.dataset.seq = f.seq;
    td.append(b);
    row.append(td);
    return row;
  }));
  if (answer.json.failed.length === 0) {
    const row = document.createElement("tr");
    const td = cell("none", "hint");
    td.colSpan = 8;
    row.append(td);
    body.append(row);
  }
}

$("failed-close").addEventListener("click", () => { $("failed-panel").hidden = true; });

document.addEventListener("click", async (e) => {
  const b = e.target.closest("button[data-action]");
  if (!b) return;
  const id = b.dataset.event;
  if (b.dataset.action === "retry") {
    const seq = b.dataset.seq;
    if (await confirmAction({title: `Retry ${id} #${seq} now?`, confirmLabel: "Retry",
        text: "One attempt to persist it, dead or not."}) === null) return;
    const answer = await call("POST", `${path(id)}/failed/${seq}/retry`, {});
    report(`retry ${id} #${seq}`, answer);
    await showFailed(id);
    return;
  }
  const action = ACTIONS[b.dataset.action];
  if (action) await action(id);
});

// ---------------------------------------------------------------- polling
let polling = false;

async function poll() {
  if (polling) return;
  polling = true;
  try {
    const [events, metrics] = await Promise.all([call("GET", "/api/v1/events"), call("GET", "/metrics")]);
    const now = Date.now();
    if (events.ok && Array.isArray(events.json)) renderEvents(events.json);
    if (metrics.ok) {
      record(now, summarize(parseMetrics(metrics.text)));
      renderCharts();
    }
    const ok = events.ok && metrics.ok;
    $("status").textContent = ok
        ? `updated ${new Date(now).toLocaleTimeString()}`
        : `server answered ${events.status} / ${metrics.status}`;
    $("status").className = ok ? "status" : "status bad";
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  } catch (err) {
    $("status").textContent = "server unreachable: " + err.message;
    $("status").className = "status bad";
  } finally {
    polling = false;
  }
}

showTokenForm();
poll();
setInterval(poll, POLL_MS);
