// pixelpilot debugger page: renders the session state pushed over server-sent events and sends
// commands. Coordinates sent to the server are screenshot pixels: the displayed image is scaled
// (zoom, fit) but clicks are mapped back through the image's natural size, never through CSS px.
"use strict";

const $ = (id) => document.getElementById(id);
// `token` comes from page_token.js (loaded first), which also takes ?token= out of the address bar.
const headers = { "content-type": "application/json", "x-pixelpilot-token": token };
let state = null;
let shownShot = null;

// Commands go out one at a time, in the order the user gave them: a Pause clicked while a Continue is
// still on its way must reach the server after it, or the Continue would undo it.
let queue = Promise.resolve();
function send(cmd) {
  const sent = queue.then(() => post(cmd));
  queue = sent.catch(() => false);
  return sent;
}

async function post(cmd) {
  $("error").hidden = true;
  const r = await fetch("/api/command", { method: "POST", headers, body: JSON.stringify(cmd) });
  if (!r.ok) {
    const body = await r.json().catch(() => ({ error: r.statusText }));
    $("error").textContent = body.error;
    $("error").hidden = false;
    return false;
  }
  return true;
}

function render(s) {
  state = s;
  $("task-id").textContent = (s.episode && s.episode.id) || "";
  $("instruction").textContent = (s.episode && s.episode.instruction) || "";
  // "pausing…": Pause was asked for while the agent runs; it stops before the next action
  const pausing = s.status === "running" && s.mode === "step";
  $("status").textContent = pausing ? "pausing…" : s.status + (s.mode === "run" && s.status !== "done" ? " (continuing)" : "");
  $("status").className = "pill " + (pausing ? "pausing" : s.status);
  $("outcome").textContent = s.result ? outcomeText(s.result) : "";
  $("outcome").className = s.result ? "outcome " + (s.result.success ? "success" : "failure") : "outcome";
  $("step-index").textContent = s.step ?? "–";
  $("pause-reason").textContent = s.pause_reason || "";
  const paused = s.status === "paused";
  const hasAction = !!(s.proposal && s.proposal.action);
  for (const id of ["btn-step", "btn-continue"]) $(id).disabled = !paused || !hasAction;
  for (const id of ["btn-skip", "btn-reask", "btn-apply", "btn-apply-step"]) $(id).disabled = !paused;
  $("btn-stop").disabled = s.status === "done";
  // enabled while paused too: Pause right after Continue must be clickable before the state catches up
  $("btn-pause").disabled = s.status === "done" || pausing;
  if (s.screenshot && s.screenshot.url !== shownShot && (paused || s.status === "done")) {
    shownShot = s.screenshot.url;
    $("shot").src = s.screenshot.url;
    $("screen-info").textContent =
      `${s.screenshot.width}×${s.screenshot.height} px @${s.screenshot.device_scale_factor} ` +
      (s.screenshot.page_url || s.screenshot.app || "");
  }
  $("overlay").innerHTML = s.overlay || "";
  const p = s.proposal;
  const editing = document.activeElement === $("action-json");
  if (!editing) $("action-json").value = p && p.action ? JSON.stringify(p.action) : "";
  $("proposal-source").textContent = p ? `from ${p.source}` : "";
  $("parse-error").hidden = !(p && p.error);
  $("parse-error").textContent = p && p.error ? p.error : "";
  $("raw-output").textContent = (p && p.raw_output ? p.raw_output : "") + (s.zoom && s.zoom.length ? "\n\nzoom:\n" + s.zoom.join("\n") : "");
  $("prompt").textContent = s.prompt && Object.keys(s.prompt).length ? JSON.stringify(s.prompt, null, 2) : "(no prompt: not a model policy)";
  if (document.activeElement !== $("breakpoints")) $("breakpoints").value = s.breakpoints.length ? JSON.stringify(s.breakpoints) : "";
  renderConfirm(s);
  renderTimeline(s.steps);
  $("result").innerHTML = s.result
    ? `<h3>Episode ended</h3><pre>${escapeHtml(JSON.stringify(s.result, null, 2))}</pre>`
    : "";
}

/** The end of the episode in words, for the header: "success — <reason>" or "failure (max_steps) — <reason>". */
function outcomeText(r) {
  const head = (r.success ? "success" : "failure") + (r.status && r.status !== "finished" ? ` (${r.status})` : "");
  const why = r.reason || r.error || r.detail || "";
  return `Episode ended: ${head}${why ? " — " + why : ""}`;
}

function escapeHtml(t) {
  return String(t).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

function renderConfirm(s) {
  const box = $("confirm");
  if (box.dataset.rules === JSON.stringify([s.confirm, s.confirm_rules])) return;
  box.dataset.rules = JSON.stringify([s.confirm, s.confirm_rules]);
  box.innerHTML = "";
  for (const [rule, text] of Object.entries(s.confirm_rules)) {
    const label = document.createElement("label");
    label.className = "check";
    const cb = document.createElement("input");
    cb.type = "checkbox";
    cb.checked = s.confirm.includes(rule);
    cb.dataset.rule = rule;
    cb.onchange = () => {
      const rules = [...box.querySelectorAll("input:checked")].map((c) => c.dataset.rule);
      send({ cmd: "set_confirm", confirm: rules });
    };
    label.append(cb, " " + text);
    box.append(label);
  }
}

let timelineCount = -1;
function renderTimeline(steps) {
  if (steps.length === timelineCount) return;
  timelineCount = steps.length;
  const tl = $("timeline");
  tl.innerHTML = "";
  for (const st of steps) {
    const div = document.createElement("div");
    div.className = "thumb" + (st.error ? " err" : "") + (st.interventions.length ? " intervened" : "");
    div.dataset.index = st.index;
    const name = st.action ? st.action.action : st.interventions.length ? st.interventions[0].kind : "—";
    div.innerHTML =
      `<div style="position:relative"><img loading="lazy" src="/api/steps/${st.index}/screenshot">` +
      `<div class="ovl">${st.overlay}</div></div>` +
      `<span>${st.index}. ${escapeHtml(name)}${st.interventions.length ? " ✎" : ""}${st.error ? " ✗" : ""}</span>`;
    div.onclick = () => openStep(st);
    tl.append(div);
  }
  tl.scrollLeft = tl.scrollWidth;
}

function openStep(st) {
  $("step-detail").innerHTML =
    `<h3>Step ${st.index}</h3><div class="shot"><img src="/api/steps/${st.index}/screenshot"><div class="ovl">${st.overlay}</div></div>` +
    `<h4>Action</h4><pre>${escapeHtml(JSON.stringify(st.action))}</pre>` +
    (st.error ? `<div class="error">${escapeHtml(st.error)}</div>` : "") +
    (st.interventions.length ? `<h4>Interventions</h4><pre>${escapeHtml(JSON.stringify(st.interventions, null, 2))}</pre>` : "") +
    `<h4>Model output</h4><pre>${escapeHtml(st.raw_output || "")}</pre>` +
    (st.zoom && st.zoom.length ? `<h4>Zoom</h4><pre>${escapeHtml(st.zoom.join("\n"))}</pre>` : "") +
    `<h4>Timings (ms)</h4><pre>${escapeHtml(JSON.stringify(st.timings_ms))}</pre>`;
  $("step-view").hidden = false;
}
$("step-close").onclick = () => ($("step-view").hidden = true);

// ---------------------------------------------------------------- zoom, pan, click-to-act
let zoom = 1, panX = 0, panY = 0;
function applyTransform() {
  $("stage").style.transform = `translate(${panX}px, ${panY}px) scale(${zoom})`;
}
function fit() {
  const img = $("shot");
  if (!img.naturalWidth) return;
  const vp = $("viewport").getBoundingClientRect();
  zoom = Math.min(vp.width / img.naturalWidth, vp.height / img.naturalHeight);
  panX = panY = 0;
  applyTransform();
}
let fitted = false;
$("shot").addEventListener("load", () => {
  if (!fitted) { fit(); fitted = true; }
  window.__ppShotLoads = (window.__ppShotLoads || 0) + 1;  // for tests and latency benchmarks
});
$("zoom-fit").onclick = fit;
$("zoom-1").onclick = () => { zoom = 1 / window.devicePixelRatio; panX = panY = 0; applyTransform(); };
$("viewport").addEventListener("wheel", (e) => {
  e.preventDefault();
  const rect = $("viewport").getBoundingClientRect();
  const mx = e.clientX - rect.left, my = e.clientY - rect.top;
  const factor = e.deltaY < 0 ? 1.15 : 1 / 1.15;
  panX = mx - (mx - panX) * factor;
  panY = my - (my - panY) * factor;
  zoom *= factor;
  applyTransform();
}, { passive: false });

function toImagePx(e) {
  const img = $("shot");
  const r = img.getBoundingClientRect();
  return {
    x: Math.round(((e.clientX - r.left) / r.width) * img.naturalWidth),
    y: Math.round(((e.clientY - r.top) / r.height) * img.naturalHeight),
  };
}
let press = null;
$("click-mode").onchange = () => $("viewport").classList.toggle("click-mode", $("click-mode").checked);
$("viewport").addEventListener("mousedown", (e) => {
  press = { x: e.clientX, y: e.clientY, panX, panY, img: toImagePx(e) };
});
window.addEventListener("mousemove", (e) => {
  if (!press) return;
  if ($("click-mode").checked) {
    const line = $("drag-line");
    const vp = $("viewport").getBoundingClientRect();
    const dx = e.clientX - press.x, dy = e.clientY - press.y;
    line.style.display = Math.hypot(dx, dy) > 5 ? "block" : "none";
    line.style.left = press.x - vp.left - panX + "px";
    line.style.top = press.y - vp.top - panY + "px";
    line.style.width = Math.hypot(dx, dy) / zoom + "px";
    line.style.transform = `rotate(${Math.atan2(dy, dx)}rad)`;
  } else {
    panX = press.panX + e.clientX - press.x;
    panY = press.panY + e.clientY - press.y;
    applyTransform();
  }
});
window.addEventListener("mouseup", (e) => {
  if (!press) return;
  const start = press;
  press = null;
  $("drag-line").style.display = "none";
  if (!$("click-mode").checked || !state || state.status !== "paused") return;
  const end = toImagePx(e);
  const moved = Math.hypot(e.clientX - start.x, e.clientY - start.y) > 5;
  const cmd = { cmd: "click", x: start.img.x, y: start.img.y };
  if (moved) Object.assign(cmd, { x2: end.x, y2: end.y });
  send(cmd);
});

// ---------------------------------------------------------------- buttons and keys
$("btn-step").onclick = () => send({ cmd: "step" });
$("btn-continue").onclick = () => send({ cmd: "continue" });
$("btn-pause").onclick = () => send({ cmd: "pause" });
$("btn-skip").onclick = () => send({ cmd: "skip" });
$("btn-stop").onclick = () => send({ cmd: "stop" });
$("btn-apply").onclick = () => send({ cmd: "edit", action: $("action-json").value });
$("btn-apply-step").onclick = () => send({ cmd: "edit", action: $("action-json").value, run: true });
$("btn-reask").onclick = () =>
  send({ cmd: "reask", hint: $("hint").value, sample: $("sample").checked, temperature: parseFloat($("temperature").value) });
$("btn-breakpoints").onclick = () => {
  let list;
  try { list = $("breakpoints").value.trim() ? JSON.parse($("breakpoints").value) : []; }
  catch (err) { $("error").textContent = "breakpoints: " + err.message; $("error").hidden = false; return; }
  send({ cmd: "set_breakpoints", breakpoints: list });
};
document.addEventListener("keydown", (e) => {
  if (["TEXTAREA", "INPUT"].includes(document.activeElement.tagName)) return;
  const map = { s: "btn-step", c: "btn-continue", p: "btn-pause", k: "btn-skip", q: "btn-stop" };
  if (map[e.key] && !$(map[e.key]).disabled) $(map[e.key]).click();
});

// ---------------------------------------------------------------- live updates
function connect() {
  const es = new EventSource("/api/events");
  es.onmessage = (e) => {
    const s = JSON.parse(e.data);
    render(s);
    // nothing changes after the end, and the debugger may exit: no reconnecting to a closed port
    if (s.status === "done" && s.result) es.close();
  };
  es.onerror = () => { $("status").textContent = "reconnecting"; };
}
connect();
