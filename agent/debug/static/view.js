// pixelpilot viewer page: an episode list with filters, and one or two episode columns that step
// through the recorded steps. Overlays come from the server (the same action_svg as the report and
// the debugger) and are drawn in the screenshot's own pixels, so scaling the image never moves them.
// The open episodes live in the URL hash (#ep=ID&step=N&cmp=ID&cstep=N) so a view can be shared or reloaded.
"use strict";

const $ = (id) => document.getElementById(id);
// `token` comes from page_token.js (loaded first), which also takes ?token= out of the address bar.
const headers = { "x-pixelpilot-token": token };
let episodes = [];
const byId = new Map();
// panes[0]: the episode picked from the list; panes[1]: the one it is compared with (or null)
const panes = [null, null];

function escapeHtml(t) {
  return String(t).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

async function getJSON(url) {
  const r = await fetch(url, { headers });
  const body = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function fileUrl(id, name) {
  return `/api/episodes/${id}/files/${encodeURIComponent(name)}`;
}

function entryName(e) {
  return e.run ? `${e.run} · ${e.label}` : e.label;
}

// ------------------------------------------------------------------ the list
function fillSelect(select, values) {
  for (const v of values) {
    const o = document.createElement("option");
    o.value = o.textContent = v;
    select.appendChild(o);
  }
}

function filtered() {
  const text = $("f-text").value.trim().toLowerCase();
  const task = $("f-task").value, outcome = $("f-outcome").value, status = $("f-status").value;
  return episodes.filter(
    (e) =>
      (!task || e.task === task) &&
      (!outcome || e.outcome === outcome) &&
      (!status || e.status === status) &&
      (!text || [e.task, e.label, e.run, e.instruction].some((f) => f && f.toLowerCase().includes(text)))
  );
}

function renderList() {
  const rows = filtered();
  const ok = rows.filter((e) => e.outcome === "success").length;
  const bad = rows.filter((e) => e.outcome === "failure").length;
  $("counts").textContent =
    `${rows.length} of ${episodes.length} episodes · ${ok} success · ${bad} failure` +
    (rows.length - ok - bad ? ` · ${rows.length - ok - bad} running` : "");
  const body = $("episodes").tBodies[0];
  body.innerHTML = "";
  for (const e of rows) {
    const tr = document.createElement("tr");
    tr.dataset.id = e.id;
    tr.dataset.task = e.task;
    tr.dataset.outcome = e.outcome;
    if (!e.has_bundle) tr.className = "nobundle";
    const name = e.has_bundle
      ? `<a href="#ep=${e.id}">${escapeHtml(e.label)}</a>`
      : `<span title="no episode bundle for this result">${escapeHtml(e.label)}</span>`;
    const sub = [e.run, e.error || e.instruction].filter(Boolean).join(" · ");
    tr.innerHTML =
      `<td class="ep-name">${name}${sub ? `<small class="sub" title="${escapeHtml(sub)}">${escapeHtml(sub)}</small>` : ""}</td>` +
      `<td><span class="pill ${e.outcome}">${e.outcome}</span></td><td>${escapeHtml(e.status)}</td>` +
      `<td>${e.steps}</td><td>${e.reward == null ? "—" : Number(e.reward).toFixed(2)}</td>`;
    body.appendChild(tr);
  }
  markSelected();
}

function markSelected() {
  for (const tr of $("episodes").tBodies[0].rows) {
    tr.classList.toggle("selected", !!panes[0] && tr.dataset.id === panes[0].id);
    tr.classList.toggle("compared", !!panes[1] && tr.dataset.id === panes[1].id);
  }
}

// ------------------------------------------------------------------ episode columns
function positions(p) {
  // every step, then the final screen when the bundle has one
  return p.data.steps.length + (p.data.final ? 1 : 0);
}

function renderPane(side) {
  const p = panes[side];
  const el = p.el;
  const { entry, episode, steps } = p.data;
  const pol = episode.policy || {};
  el.querySelector(".ep-task").textContent = entry.task;
  el.querySelector(".ep-label").textContent = entryName(entry);
  const outcome = el.querySelector(".ep-outcome");
  outcome.textContent = entry.outcome;
  outcome.className = `pill ep-outcome ${entry.outcome}`;
  el.querySelector(".ep-status").textContent = episode.status + (entry.status !== episode.status ? ` (run: ${entry.status})` : "");
  el.querySelector(".ep-instruction").textContent = (episode.task && episode.task.instruction) || "";
  const meta = [
    `success ${episode.success == null ? "—" : episode.success}`,
    `reward ${episode.reward == null ? "—" : episode.reward}`,
    `policy ${pol.name || "?"}${pol.model ? " · " + pol.model : ""}${pol.dialect ? " · " + pol.dialect : ""}`,
    `${episode.steps} steps`,
    episode.duration_s != null ? `${episode.duration_s} s` : null,
    episode.answer ? `answer: ${episode.answer}` : null,
    episode.detail ? `check: ${episode.detail}` : null,
  ];
  el.querySelector(".ep-meta").textContent = meta.filter(Boolean).join(" · ");
  const err = el.querySelector(".ep-error");
  err.hidden = !episode.error;
  err.textContent = episode.error || "";
  renderCompareSelect(side);
  el.querySelector(".step-count").textContent = steps.length;
  renderStrip(side);
  renderStep(side);
}

function renderCompareSelect(side) {
  const select = panes[side].el.querySelector(".compare");
  select.hidden = side !== 0;
  panes[side].el.querySelector(".close").hidden = side === 0;
  if (side !== 0) return;
  const me = panes[0].data.entry;
  const others = episodes.filter((e) => e.task === me.task && e.id !== me.id && e.has_bundle);
  select.innerHTML = "";
  const first = document.createElement("option");
  first.value = "";
  first.textContent = others.length ? `compare with… (${others.length})` : "no other episode of this task";
  select.appendChild(first);
  for (const e of others) {
    const o = document.createElement("option");
    o.value = e.id;
    o.textContent = `${entryName(e)} · ${e.outcome}`;
    select.appendChild(o);
  }
  select.disabled = !others.length;
  select.value = panes[1] ? panes[1].id : "";
}

function renderStrip(side) {
  const p = panes[side];
  const strip = p.el.querySelector(".strip");
  strip.innerHTML = "";
  const items = p.data.steps.map((s) => ({ shot: s.screenshot, overlay: s.overlay, label: stepLabel(s), step: s }));
  const last = p.data.steps[p.data.steps.length - 1];
  if (p.data.final) items.push({ shot: p.data.final, overlay: "", label: "final", step: null, size: last });
  items.forEach((it, i) => {
    const div = document.createElement("div");
    const s = it.step;
    div.className = "thumb" + (s && s.error ? " err" : "") + (s && s.interventions.length ? " intervened" : "");
    div.dataset.pos = i;
    div.title = it.label;
    const size = it.step || it.size; // width/height reserve the thumbnail's box before the lazy image loads
    const dims = size ? ` width="${size.width}" height="${size.height}"` : "";
    div.innerHTML =
      `<div style="position:relative"><img loading="lazy"${dims} src="${fileUrl(p.id, it.shot)}" alt="">` +
      `<div class="ovl">${it.overlay}</div></div><span>${escapeHtml(it.label)}</span>`;
    div.onclick = () => go(side, i);
    strip.appendChild(div);
  });
}

function stepLabel(s) {
  const a = s.action || {};
  return `${s.index} ${a.action || (s.error_kind ? "✗ " + s.error_kind : "—")}`;
}

function renderStep(side) {
  const p = panes[side];
  const el = p.el;
  const n = positions(p);
  const isFinal = p.data.final && p.pos === p.data.steps.length;
  const s = isFinal ? null : p.data.steps[p.pos];
  el.querySelector(".step-no").textContent = isFinal ? "final" : s ? s.index : "–";
  el.querySelector(".prev").disabled = p.pos <= 0;
  el.querySelector(".next").disabled = p.pos >= n - 1;
  const img = el.querySelector(".shot img");
  const shot = isFinal ? p.data.final : s ? s.screenshot : null;
  img.hidden = !shot;
  if (shot) img.src = fileUrl(p.id, shot);
  el.querySelector(".shot .ovl").innerHTML = s ? s.overlay : "";
  el.querySelector(".screen-info").textContent = s
    ? `${s.width}×${s.height} px @${s.device_scale_factor} ${s.page_url || s.app || ""}`
    : isFinal ? "the screen when the episode ended" : "no steps recorded";
  el.querySelector(".action-json").textContent = s
    ? s.action ? JSON.stringify(s.action, null, 1) : s.proposed != null ? `(not run) proposed: ${JSON.stringify(s.proposed)}` : "(no action)"
    : "";
  const err = el.querySelector(".step-error");
  err.hidden = !(s && s.error);
  err.textContent = s && s.error ? `${s.error_kind || "error"}: ${s.error}` : "";
  const iv = el.querySelector(".interventions");
  iv.innerHTML = "";
  for (const x of (s && s.interventions) || []) iv.appendChild(interventionView(x, s));
  el.querySelector(".interventions-box").hidden = !(s && s.interventions.length);
  el.querySelector(".raw-output").textContent = s ? (s.raw_output ?? "(none: not a model policy)") : "";
  const t = (s && s.timings_ms) || {};
  el.querySelector(".timings").textContent = s
    ? ["capture", "decide", "execute", "record"].map((k) => `${k} ${t[k] == null ? "—" : Math.round(t[k])} ms`).join(" · ")
    : "";
  el.querySelector(".result").textContent = s && s.result ? JSON.stringify(s.result, null, 1) : "";
  for (const th of el.querySelectorAll(".thumb")) th.classList.toggle("current", Number(th.dataset.pos) === p.pos);
  const cur = el.querySelector(".thumb.current");
  if (cur) cur.scrollIntoView({ block: "nearest", inline: "nearest" });
}

/** One intervention as a before/after pair: what the policy proposed, and what the person made of it. */
function interventionView(x, s) {
  const box = document.createElement("div");
  box.className = "intervention";
  const show = (v) => (v == null ? "(nothing)" : typeof v === "string" ? v : JSON.stringify(v));
  const before = x.proposed != null ? show(x.proposed) : x.proposed_error ? `(invalid) ${x.proposed_error}` : show(x.proposed_raw);
  let after;
  if (x.kind === "skip") after = "(skipped: not run)";
  else if (x.kind === "stop") after = "(stopped the episode)";
  else after = show(x.action ?? s.action);
  const extra = [x.hint ? `hint: ${x.hint}` : null, x.note].filter(Boolean).join(" · ");
  box.innerHTML =
    `<div class="iv-kind">${escapeHtml(x.kind)}${extra ? ` <small>${escapeHtml(extra)}</small>` : ""}</div>` +
    `<div class="iv-pair"><div class="iv-before"><b>before</b> (proposed)<pre>${escapeHtml(before)}</pre></div>` +
    `<div class="iv-after"><b>after</b> (run)<pre>${escapeHtml(after)}</pre></div></div>`;
  return box;
}

function go(side, pos) {
  const p = panes[side];
  if (!p) return;
  p.pos = Math.max(0, Math.min(positions(p) - 1, pos));
  renderStep(side);
  writeHash();
}

async function open(side, id, pos = 0) {
  if (panes[side] && panes[side].id === id) return go(side, pos);
  let data;
  try {
    data = await getJSON(`/api/episodes/${id}`);
  } catch (exc) {
    showError(`cannot open episode ${id}: ${exc.message}`);
    return;
  }
  if (panes[side]) panes[side].el.remove();
  const el = $("pane-template").content.firstElementChild.cloneNode(true);
  el.dataset.side = side;
  el.dataset.id = id;
  el.querySelector(".prev").onclick = () => go(side, panes[side].pos - 1);
  el.querySelector(".next").onclick = () => go(side, panes[side].pos + 1);
  el.querySelector(".close").onclick = () => closeCompare();
  el.querySelector(".compare").onchange = (ev) => {
    ev.target.blur(); // so ←/→ step the columns instead of changing the choice
    if (ev.target.value) open(1, ev.target.value);
    else closeCompare();
  };
  $("panes").appendChild(el);
  if (side === 0 && panes[1]) $("panes").appendChild(panes[1].el); // keep the compared column on the right
  panes[side] = { id, data, pos: 0, el };
  $("empty").hidden = true;
  renderPane(side);
  go(side, pos);
  markSelected();
}

function closeCompare() {
  if (panes[1]) panes[1].el.remove();
  panes[1] = null;
  if (panes[0]) renderCompareSelect(0);
  markSelected();
  writeHash();
}

function showError(text) {
  $("empty").hidden = false;
  $("empty").textContent = text;
}

// ------------------------------------------------------------------ URL hash
function writeHash() {
  const h = new URLSearchParams();
  if (panes[0]) h.set("ep", panes[0].id), h.set("step", panes[0].pos + 1);
  if (panes[1]) h.set("cmp", panes[1].id), h.set("cstep", panes[1].pos + 1);
  history.replaceState(null, "", `${location.pathname}${location.search}#${h}`);
}

async function readHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  const ep = h.get("ep");
  if (!ep) return;
  if (panes[0] && panes[0].id !== ep) closeCompare();
  await open(0, ep, Number(h.get("step") || 1) - 1);
  const cmp = h.get("cmp");
  if (cmp) await open(1, cmp, Number(h.get("cstep") || 1) - 1);
}

// ------------------------------------------------------------------ wiring
document.addEventListener("keydown", (ev) => {
  const tag = document.activeElement && document.activeElement.tagName;
  if (["INPUT", "SELECT", "TEXTAREA"].includes(tag) || ev.altKey || ev.ctrlKey || ev.metaKey) return;
  const delta = { ArrowLeft: -1, ArrowRight: 1 }[ev.key];
  if (!delta) return;
  ev.preventDefault();
  for (const side of [0, 1]) if (panes[side]) go(side, panes[side].pos + delta);
});

async function start() {
  for (const id of ["f-text", "f-task", "f-outcome", "f-status"]) $(id).addEventListener("input", renderList);
  window.addEventListener("hashchange", readHash);
  try {
    episodes = (await getJSON("/api/episodes")).episodes;
  } catch (exc) {
    showError(`cannot load the episode list: ${exc.message}`);
    return;
  }
  for (const e of episodes) byId.set(e.id, e);
  fillSelect($("f-task"), [...new Set(episodes.map((e) => e.task))].sort());
  fillSelect($("f-status"), [...new Set(episodes.map((e) => e.status))].sort());
  const inRuns = episodes.filter((e) => e.run);
  const runs = new Set(inRuns.map((e) => e.run)).size;
  $("totals").textContent =
    `${episodes.length} episodes` + (runs ? ` (${inRuns.length} in ${runs} bench run${runs > 1 ? "s" : ""})` : "");
  renderList();
  await readHash();
  document.body.dataset.ready = "1";
}

start();
