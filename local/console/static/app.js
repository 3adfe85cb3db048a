// eventbus console: one page per hash (#topics, #messages, #lag, #sources, #follow), data from /api/*.
// Charts are Chart.js (vendor/chartjs); window.consoleCharts holds the live instances (tests read them).
"use strict";

const REFRESH_MS = 5000;
const view = document.getElementById("view");
const errorBox = document.getElementById("error");
const statusBox = document.getElementById("status");
window.consoleCharts = {};
let timer = null;

const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const fmtTime = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").replace("Z", "") : "");
const fmtNum = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US", {maximumFractionDigits: 2}));
const json = (v) => `<pre>${esc(JSON.stringify(v, null, 1))}</pre>`;

function showError(message) {
  errorBox.textContent = message || "";
  errorBox.hidden = !message;
}

async function api(path) {
  const started = performance.now();
  const resp = await fetch(path, {headers: {accept: "application/json"}});
  const body = await resp.json().catch(() => ({error: `HTTP ${resp.status} without a JSON body`}));
  statusBox.textContent = `${path.split("?")[0]} ${resp.status} in ${Math.round(performance.now() - started)} ms`;
  if (!resp.ok) throw new Error(body.error || `HTTP ${resp.status}`);
  return body;
}

function chart(id, config) {
  const canvas = document.getElementById(id);
  const existing = window.consoleCharts[id];
  if (existing && existing.canvas === canvas) {
    existing.data = config.data;
    existing.update("none");
    return existing;
  }
  if (existing) existing.destroy();
  config.options = Object.assign({animation: false, responsive: true, maintainAspectRatio: false}, config.options);
  window.consoleCharts[id] = new Chart(canvas, config);
  return window.consoleCharts[id];
}

function table(headers, rows) {
  const head = headers.map((h) => `<th class="${h.endsWith("#") ? "num" : ""}">${esc(h.replace(/#$/, ""))}</th>`).join("");
  return `<table><thead><tr>${head}</tr></thead><tbody>${rows.join("") || `<tr><td colspan="${headers.length}" class="muted">none</td></tr>`}</tbody></table>`;
}

const hashParams = () => new URLSearchParams(location.hash.split("?")[1] || "");

// --- Topics -------------------------------------------------------------------------------------
async function topicsPage(first) {
  if (first) {
    view.innerHTML = `<h2>Topics</h2><div class="chart"><canvas id="rates"></canvas></div>
      <p class="muted" id="rate-note"></p><div id="topics-table"></div>`;
  }
  const data = await api("/api/topics");
  const palette = ["#2f6fdf", "#e4572e", "#17a398", "#ffc914", "#76b041", "#8e44ad", "#555", "#d35400", "#c0392b"];
  const stamps = [...new Set(Object.values(data.series).flat().map((p) => p[0]))].sort((a, b) => a - b);
  const labels = stamps.map((s) => new Date(s * 1000).toISOString().slice(11, 19));
  const datasets = data.topics.map((t, i) => {
    const byTime = new Map((data.series[t.topic] || []).map((p) => [p[0], p[1]]));
    return {label: t.topic, data: stamps.map((s) => byTime.get(s) ?? null), borderColor: palette[i % palette.length],
            backgroundColor: palette[i % palette.length], pointRadius: 0, borderWidth: 1.5, spanGaps: true};
  });
  chart("rates", {type: "line", data: {labels, datasets},
    options: {scales: {y: {beginAtZero: true, title: {display: true, text: "records/s into the topic"}}},
              plugins: {legend: {position: "right"}}}});
  document.getElementById("rate-note").textContent =
    `In-rate = growth of the summed end offsets between samples taken every ${data.sample_every_s}s by the console ` +
    `(last ${Math.round(data.window_s / 60)} min kept).` + (data.error ? ` Sampling: ${data.error}` : "");
  const rows = data.topics.map((t) => `<tr><td><a href="#messages?topic=${esc(t.topic)}">${esc(t.topic)}</a></td>
    <td class="num">${t.partitions}${t.partitions !== t.catalog_partitions ? ` (catalog ${t.catalog_partitions})` : ""}</td>
    <td class="num">${fmtNum(t.messages)}</td><td class="num">${fmtNum(t.rate_per_s)}</td><td>${esc(t.cleanup_policy)}</td>
    <td>${t.retention_ms && t.retention_ms > 0 ? fmtNum(t.retention_ms / 86400000) + " d" : "broker default / ∞"}</td>
    <td>${esc(t.key)}</td><td>${esc(t.schema)}</td></tr>`);
  document.getElementById("topics-table").innerHTML =
    table(["topic", "partitions#", "messages#", "records/s#", "cleanup", "retention", "key", "schema"], rows);
}

// --- Messages -----------------------------------------------------------------------------------
async function messagesPage(first) {
  if (!first) return;
  const p = hashParams();
  const topics = (await api("/api/topics")).topics.map((t) => t.topic);
  const topic = p.get("topic") || topics[0];
  view.innerHTML = `<h2>Messages</h2><form id="msg-form">
    <label>topic<select name="topic">${[...new Set([...topics, topic])].map((t) => `<option ${t === topic ? "selected" : ""}>${esc(t)}</option>`).join("")}</select></label>
    <label>key (exact or /regex/)<input name="key" size="28" value="${esc(p.get("key") || "")}"></label>
    <label>field filter (FIELD=VALUE)<input name="where" size="28" placeholder="after.status=confirmed" value="${esc(p.get("where") || "")}"></label>
    <label>latest N<input name="limit" type="number" min="1" max="500" value="${esc(p.get("limit") || "50")}"></label>
    <button>Show</button></form><p class="muted" id="msg-note"></p><div id="msg-table"></div>
    <button id="older" hidden>Older →</button>`;
  const form = document.getElementById("msg-form");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams([...new FormData(form)].filter(([, v]) => v !== ""));
    location.hash = `messages?${q}`;
  });
  const q = new URLSearchParams([...p].filter(([, v]) => v !== ""));
  q.set("topic", topic);
  await loadMessages(q);
}

async function loadMessages(q, before) {
  const topic = q.get("topic");
  const params = new URLSearchParams([...q].filter(([k]) => k !== "topic"));
  if (before) params.set("before", before);
  const data = await api(`/api/topics/${encodeURIComponent(topic)}/messages?${params}`);
  document.getElementById("msg-note").textContent = `${data.records.length} record(s), newest first; scanned ` +
    `${data.scanned} in ${data.elapsed_ms} ms (stopped: ${data.stopped}). Key of ${topic}: ${data.key}.`;
  const rows = data.records.map((r) => `<tr class="msg"><td>${fmtTime(r.timestamp)}</td><td class="num">${r.partition}/${r.offset}</td>
    <td>${esc(r.key)}</td><td class="num">${r.schema_version ? "v" + r.schema_version : "–"}</td>
    <td>${r.tombstone ? '<span class="badge tomb">tombstone</span>' : ""}${r.dead_letter ? `<span class="badge dlq">dead letter</span> ${esc(r.dead_letter.reason)}` : ""}
    ${r.error ? `<span class="badge bad">undecodable</span> ${esc(r.error)}` : ""}${r.value ? json(r.value) : ""}</td></tr>`);
  document.getElementById("msg-table").innerHTML = table(["Kafka time (UTC)", "partition/offset#", "key", "schema#", "value"], rows);
  const older = document.getElementById("older");
  older.hidden = !data.cursor;
  older.onclick = () => loadMessages(q, data.cursor).catch((e) => showError(e.message));
}

// --- Lag ----------------------------------------------------------------------------------------
const cdcHistory = [];
async function lagPage(first) {
  if (first) {
    view.innerHTML = `<h2>Lag</h2><h3>Consumer groups (committed offset vs end offset)</h3><div id="groups"></div>
      <h3>CDC replication slot</h3><div class="chart"><canvas id="cdc-lag"></canvas></div><div id="cdc"></div>
      <h3>Spark queries <a class="muted" id="spark-link" target="_blank">Spark UI</a></h3>
      <div class="chart"><canvas id="spark-rates"></canvas></div><div id="spark"></div>`;
  }
  const data = await api("/api/lag");
  document.getElementById("spark-link").href = data.links.spark_ui;
  const k = data.kafka;
  document.getElementById("groups").innerHTML = (k.error ? `<div class="note">${esc(k.error)}</div>` : "") +
    table(["group", "topic", "partition#", "committed#", "end#", "lag#"], k.groups.flatMap((g) => (g.partitions || []).map((p) =>
      `<tr><td>${esc(g.group)}</td><td>${esc(p.topic)}</td><td class="num">${p.partition}</td><td class="num">${fmtNum(p.committed)}</td>
       <td class="num">${fmtNum(p.end)}</td><td class="num">${fmtNum(p.lag)}</td></tr>`)));
  const relay = data.cdc.relay, slots = data.cdc.slots;
  const st = relay.ok ? relay.status : {};
  // The slot's lag since this page opened (a point per refresh): PostgreSQL's bytes, the relay's ms.
  if (first) cdcHistory.length = 0;
  const slotBytes = slots.ok ? slots.slots.reduce((n, sl) => n + (sl.lag_bytes || 0), 0) : null;
  cdcHistory.push([new Date().toISOString().slice(11, 19), slotBytes, relay.ok ? st.lag_ms : null]);
  if (cdcHistory.length > 180) cdcHistory.shift();
  chart("cdc-lag", {type: "line", data: {labels: cdcHistory.map((h) => h[0]), datasets: [
    {label: "slot lag bytes (pg_replication_slots)", data: cdcHistory.map((h) => h[1]), borderColor: "#2f6fdf", yAxisID: "y", pointRadius: 2},
    {label: "relay lag ms (:9187/status)", data: cdcHistory.map((h) => h[2]), borderColor: "#e4572e", yAxisID: "ms", pointRadius: 2}]},
    options: {scales: {y: {beginAtZero: true, title: {display: true, text: "bytes"}},
                       ms: {type: "linear", axis: "y", beginAtZero: true, position: "right", grid: {drawOnChartArea: false}, title: {display: true, text: "ms"}}}}});
  document.getElementById("cdc").innerHTML =
    (relay.ok ? `<p>relay <span class="badge ok">${esc(st.state)}</span> slot ${esc(st.slot)}: lag <b>${fmtNum(st.lag_bytes)}</b> bytes,
      <b>${fmtNum(st.lag_ms)}</b> ms (oldest unacknowledged transaction), ${fmtNum(st.inflight_records)} in flight,
      confirmed LSN ${esc(st.confirmed_lsn)} <span class="muted">from ${esc(relay.url)}</span></p>`
      : `<div class="note">${esc(relay.error)}</div>`) +
    (slots.ok ? table(["slot (pg_replication_slots)", "active", "confirmed LSN", "server LSN", "lag bytes#", "retained WAL bytes#"],
      slots.slots.map((s) => `<tr><td>${esc(s.slot_name)}</td><td>${s.active ? "yes" : "no"}</td><td>${esc(s.confirmed_lsn)}</td>
        <td>${esc(s.server_lsn)}</td><td class="num">${fmtNum(s.lag_bytes)}</td><td class="num">${fmtNum(s.retained_bytes)}</td></tr>`))
      : `<div class="note">${esc(slots.error)}</div>`);
  const sp = data.spark;
  document.getElementById("spark-rates").parentElement.hidden = sp.queries.length === 0;
  chart("spark-rates", {type: "bar", data: {labels: sp.queries.map((q) => q.name), datasets: [
    {label: "input rows/s", data: sp.queries.map((q) => q.input_rows_per_s), backgroundColor: "#2f6fdf"},
    {label: "processed rows/s", data: sp.queries.map((q) => q.processed_rows_per_s), backgroundColor: "#17a398"}]},
    options: {scales: {y: {beginAtZero: true}}}});
  document.getElementById("spark").innerHTML = (sp.message ? `<div class="note">${esc(sp.message)}</div>` : "") +
    table(["query", "batch#", "input rows/s#", "processed rows/s#", "batch ms#", "watermark", "clamped / late / duplicate rows since start#", "lag: end offset − batch end (records)", "age s#"],
      sp.queries.map((q) => `<tr><td>${esc(q.name)}${q.stale ? ' <span class="badge bad">stale</span>' : ""}${q.error ? ` ${esc(q.error)}` : ""}</td>
        <td class="num">${fmtNum(q.batch_id)}</td><td class="num">${fmtNum(q.input_rows_per_s)}</td><td class="num">${fmtNum(q.processed_rows_per_s)}</td>
        <td class="num">${fmtNum(q.batch_duration_ms)}</td><td>${esc(q.watermark)}</td>
        <td class="num">${q.event_time ? `${fmtNum(q.event_time.clamped)} / ${fmtNum(q.event_time.late_dropped)} / ${fmtNum(q.event_time.duplicates_dropped)}` : ""}</td>
        <td>${(q.sources || []).map((s) => `${esc(s.description)}: ${fmtNum(s.lag_records)}`).join("<br>")}</td><td class="num">${fmtNum(q.age_s)}</td></tr>`));
}

// --- Sources ------------------------------------------------------------------------------------
async function sourcesPage(first) {
  if (first) {
    view.innerHTML = `<h2>Sources</h2><p><a id="spark-ui" target="_blank">Spark UI</a> · <a id="airflow-ui" target="_blank">Airflow UI</a></p>
      <div class="grid"><div class="card"><h3>Gateway responses by route and status</h3><div class="chart"><canvas id="gateway-chart"></canvas></div><div id="gateway"></div></div>
      <div class="card"><h3>Simulators: events/s per source</h3><div class="chart"><canvas id="sim-chart"></canvas></div><div id="sims"></div></div>
      <div class="card"><h3>CDC relay</h3><div id="cdc-relay"></div></div>
      <div class="card"><h3>Airflow: latest DAG runs</h3><div id="airflow"></div></div></div>`;
  }
  const d = await api("/api/sources");
  document.getElementById("spark-ui").href = d.links.spark_ui;
  document.getElementById("airflow-ui").href = d.links.airflow_ui;
  const gw = d.gateway, m = gw.metrics || {};
  const responses = m.responses || [];
  chart("gateway-chart", {type: "bar", data: {labels: responses.map((r) => `${r.route} ${r.status}`),
    datasets: [{label: "responses", data: responses.map((r) => r.count), backgroundColor: responses.map((r) => (r.status >= 400 ? "#e4572e" : "#17a398"))}]},
    options: {indexAxis: "y", plugins: {legend: {display: false}}}});
  document.getElementById("gateway").innerHTML = gw.ok
    ? table(["counter", "value#"], ["events_accepted", "events_rejected", "events_failed", "events_possibly_persisted", "requests_unauthorized"]
        .map((c) => `<tr><td>${c}</td><td class="num">${fmtNum(m[c])}</td></tr>`)) + `<p class="muted">from ${esc(gw.url)} (one worker's counters per scrape)</p>`
    : `<div class="note">${esc(gw.error)}</div>`;
  const sim = d.simulators, srcs = sim.ok ? Object.entries(sim.status.sources || {}) : [];
  chart("sim-chart", {type: "bar", data: {labels: srcs.map(([n]) => n), datasets: [
    {label: "events/s (last minute)", data: srcs.map(([, s]) => s.rate_per_s), backgroundColor: "#2f6fdf"}]},
    options: {plugins: {legend: {display: false}}, scales: {y: {beginAtZero: true}}}});
  document.getElementById("sims").innerHTML = sim.ok
    ? table(["source", "topic / sink", "emitted#", "events/s#", "target/s#"], srcs.map(([n, s]) => `<tr><td>${esc(n)}</td><td>${esc(s.topic || s.sink)}</td>
        <td class="num">${fmtNum(s.emitted)}</td><td class="num">${fmtNum(s.rate_per_s)}</td><td class="num">${fmtNum(s.target_per_s)}</td></tr>`))
    : `<div class="note">${esc(sim.error)}</div>`;
  const cdc = d.cdc;
  document.getElementById("cdc-relay").innerHTML = cdc.ok
    ? table(["field", "value"], Object.entries(cdc.status).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`))
    : `<div class="note">${esc(cdc.error)}</div>`;
  const af = d.airflow;
  document.getElementById("airflow").innerHTML = af.ok
    ? `<p class="muted">via ${esc(af.via)}</p>` + table(["DAG", "run", "state", "start", "end"], af.runs.map((r) =>
        `<tr><td>${esc(r.dag_id)}</td><td>${esc(r.dag_run_id)}</td><td>${esc(r.state)}</td><td>${esc(r.start_date)}</td><td>${esc(r.end_date)}</td></tr>`))
      + ((af.failures || []).length ? `<h4>Failed for good, 24 h (DAG failure callback → DagRunFailed)</h4>` + table(["DAG", "task", "failures#"],
        af.failures.map((f) => `<tr><td>${esc(f.dag_id)}</td><td>${esc(f.task_id)}</td><td class="num">${fmtNum(f.failures)}</td></tr>`)) : "")
    : `<div class="note">${esc(af.error)}</div>`;
}

// --- Follow an entity ---------------------------------------------------------------------------
async function followPage(first) {
  if (!first) return;
  const p = hashParams();
  const kind = p.get("kind") || "booking_id";
  view.innerHTML = `<h2>Follow an entity</h2><form id="follow-form">
    <label>kind<select name="kind">${["user_id", "session_id", "booking_id"].map((k) => `<option ${k === kind ? "selected" : ""}>${k}</option>`).join("")}</select></label>
    <label>id<input name="id" size="36" value="${esc(p.get("id") || "")}" placeholder="bk-…, u-…, s-…"></label><button>Follow</button></form>
    <p class="muted" id="follow-note">Newest first: its records in every topic of the catalog whose records carry the id (listed under the
    timeline; bounded scans from each topic's end), and its PostgreSQL rows as they are now.</p><div id="timeline"></div>`;
  const form = document.getElementById("follow-form");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = `follow?${new URLSearchParams(new FormData(form))}`;
  });
  if (!p.get("id")) return;
  const d = await api(`/api/follow?${new URLSearchParams({kind, id: p.get("id")})}`);
  document.getElementById("follow-note").textContent = `${d.entries.length} entries in ${d.elapsed_ms} ms. Scanned: ` +
    d.sources.map((s) => `${s.topic} ${s.scanned ?? ""} (${s.matches} match${s.matches === 1 ? "" : "es"}, ${s.stopped})`).join("; ");
  const rows = d.entries.map((e) => `<tr class="entry" data-source="${esc(e.source)}"><td>${fmtTime(e.time)}</td>
    <td><span class="badge ${e.kind === "row" ? "row" : ""}">${esc(e.source)}</span></td><td>${esc(e.summary)}</td>
    <td>${esc(e.key)}${e.offset !== undefined ? `<br><span class="muted">p${e.partition} @${e.offset} v${e.schema_version ?? "?"}</span>` : ""}</td>
    <td><details><summary class="muted">${esc(Object.keys(e.value || {}).length)} fields</summary>${json(e.value)}</details></td></tr>`);
  document.getElementById("timeline").innerHTML = table(["time (UTC)", "source", "what", "key", "record"], rows);
}

// --- routing ------------------------------------------------------------------------------------
const PAGES = {topics: [topicsPage, true], messages: [messagesPage, false], lag: [lagPage, true],
               sources: [sourcesPage, true], follow: [followPage, false], ...(window.extraPages || {})};

async function route() {
  clearInterval(timer);
  Object.values(window.consoleCharts).forEach((c) => c.destroy());
  window.consoleCharts = {};
  const name = (location.hash.slice(1).split("?")[0] || "topics");
  const [page, live] = PAGES[name] || PAGES.topics;
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === name));
  document.body.dataset.page = name;
  document.body.dataset.loaded = "";
  showError("");
  view.innerHTML = '<p class="muted">loading…</p>';
  const run = (first) => page(first).then(() => { if (first) document.body.dataset.loaded = name; })
    .catch((e) => { showError(e.message); document.body.dataset.loaded = name; });
  await run(true);
  if (live) timer = setInterval(() => run(false), REFRESH_MS);
}

window.addEventListener("hashchange", route);
route();
