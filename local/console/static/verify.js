// The Verify page (#verify): the last `make verify` result from /api/verify — one row per output with its
// differing keys, each linked to the records it names (#messages?topic=…&key=…), the truth's tallies, and
// p50/p99 per latency stage over the recorded runs. Loaded before app.js, which picks up window.extraPages.
"use strict";

async function verifyPage(first) {
  if (first) {
    view.innerHTML = `<h2>Verify <span class="muted" id="verify-when"></span></h2>
      <p class="muted">Run <code>make verify</code> to refresh; this page shows its last result.</p>
      <div id="verify-rows"></div><div id="verify-notes"></div>
      <h3>Latency per stage (p50 / p99, seconds) over verify runs</h3>
      <div class="chart"><canvas id="verify-latency"></canvas></div><div id="verify-stages"></div>`;
  }
  const data = await api("/api/verify");
  const last = data.last;
  if (!last) {
    document.getElementById("verify-rows").innerHTML = `<p class="muted">no result yet in ${esc(data.folder)}</p>`;
    return;
  }
  const prefix = last.topic_prefix || "";
  document.getElementById("verify-when").textContent =
    `${last.ok ? "OK" : "MISMATCH"} at ${fmtTime(last.verified_at)} UTC, ${fmtNum(last.seconds)} s`;
  const link = (topic, key) => `<a href="#messages?topic=${encodeURIComponent(prefix + topic)}&key=${encodeURIComponent(key)}">${esc(key)}</a>`;
  const rows = last.rows.map((r) => `<tr class="${r.ok ? "" : "bad"}"><td>${esc(r.output)}</td>
    <td><a href="#messages?topic=${encodeURIComponent(prefix + r.topic)}">${esc(prefix + r.topic)}</a></td>
    <td class="num">${fmtNum(r.compared)}</td><td class="num">${fmtNum(r.matched)}</td><td class="num">${fmtNum(r.missing)}</td>
    <td class="num">${fmtNum(r.extra)}</td><td class="num">${fmtNum(r.wrong)}</td>
    <td>${r.diffs.slice(0, 10).map((d) => `${esc(d.kind)} ${link(r.topic, d.key)}` +
      (d.kind === "extra" ? ` got ${esc(JSON.stringify(d.actual))}` : ` expected ${esc(JSON.stringify(d.expected))}` +
       (d.kind === "wrong" ? `, got ${esc(JSON.stringify(d.actual))}` : "")) +
      ` (<a href="#messages?topic=${encodeURIComponent(prefix + "topic_truth")}&key=${encodeURIComponent("/" + (d.key.split("|")[1] || d.key) + "/")}">truth</a>)`).join("<br>")}</td></tr>`);
  document.getElementById("verify-rows").innerHTML =
    table(["output", "topic", "compared#", "matched#", "missing#", "extra#", "wrong#", "differing keys"], rows);
  const skipped = Object.entries(last.skipped || {}).map(([k, v]) => `${esc(k)}: ${fmtNum(v)}`).join(" · ");
  const tallies = Object.entries(last.tallies || {}).map(([k, v]) => `${esc(k)}=${fmtNum(v)}`).join(" · ");
  document.getElementById("verify-notes").innerHTML =
    `<p class="muted">not compared: ${skipped || "none"}</p><p class="muted">truth: ${tallies || "–"}</p>`;
  const stages = (last.latency || []).map((s) => `<tr><td>${esc(s.name)}</td><td class="num">${fmtNum(s.n)}</td>
    <td class="num">${fmtNum(s.p50_ms / 1000)}</td><td class="num">${fmtNum(s.p99_ms / 1000)}</td><td class="num">${fmtNum(s.max_ms / 1000)}</td></tr>`);
  document.getElementById("verify-stages").innerHTML = table(["stage", "n#", "p50 s#", "p99 s#", "max s#"], stages);
  const hist = data.history || [];
  const names = [...new Set(hist.flatMap((h) => Object.keys(h.latency || {})))];
  const palette = ["#2f6fdf", "#e4572e", "#17a398", "#ffc914", "#76b041", "#8e44ad"];
  const datasets = names.flatMap((n, i) => [0, 1].map((q) => ({
    label: `${n} ${q ? "p99" : "p50"}`, data: hist.map((h) => ((h.latency || {})[n] || [])[q] / 1000 ?? null),
    borderColor: palette[i % palette.length], borderDash: q ? [4, 3] : [], pointRadius: 1, borderWidth: 1.5, spanGaps: true})));
  chart("verify-latency", {type: "line", data: {labels: hist.map((h) => fmtTime(h.verified_at).slice(5, 16)), datasets},
    options: {scales: {y: {type: "logarithmic", title: {display: true, text: "seconds"}}}, plugins: {legend: {position: "right"}}}});
}

window.extraPages = Object.assign(window.extraPages || {}, {verify: [verifyPage, true]});
