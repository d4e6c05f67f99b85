// The i2v page: plain JavaScript over the JSON API (see /api/openapi.json).
"use strict";

const $ = (sel) => document.querySelector(sel);
const params = new URLSearchParams(location.search);
if (params.get("token")) localStorage.setItem("i2v-token", params.get("token"));
const token = params.get("token") || localStorage.getItem("i2v-token") || "";

const state = { file: null, system: null, watching: null, events: null, presets: {}, loraNames: null };

// URLs for elements that cannot send headers (<video>, <img>, EventSource).
function withToken(url) {
  if (!token) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

async function api(path, options = {}) {
  options.headers = Object.assign({}, options.headers || {});
  if (token) options.headers["Authorization"] = "Bearer " + token;
  const res = await fetch(path, options);
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) throw new Error((body && body.error) || ("HTTP " + res.status));
  return body;
}

function bytes(n) {
  if (!n && n !== 0) return "?";
  const gib = n / 1073741824;
  return gib >= 1 ? gib.toFixed(2) + " GiB" : (n / 1048576).toFixed(0) + " MiB";
}
function seconds(s) {
  if (!isFinite(s)) return "?";
  if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
  return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
}
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

// ---- system line -------------------------------------------------------------------------
async function refreshSystem() {
  try {
    const s = await api("/api/system");
    state.system = s;
    for (const p of s.presets) state.presets[p.name] = p;
    showLoras(s.loras || []);
    const eight = Object.entries(s.model.weights_8bit || {}).map(([c, f]) => `${c} ${f}`).join(", ");
    $("#system").textContent = `${s.device} · model ${s.model.model.split("/").pop()} (${s.plan.precision}` +
      (eight ? `; 8-bit weights: ${eight}, approximate` : "") + `) · ` +
      `RSS ${bytes(s.memory.rss_bytes)}, ${bytes(s.memory.available_bytes)} free of ` +
      `${bytes(s.memory.total_bytes)} · queue ${s.queue_length}` +
      (s.jobs_store && s.jobs_store.startsWith("postgres")
        ? ` · ${s.workers.length} worker${s.workers.length === 1 ? "" : "s"} (` +
          `${s.workers.filter((w) => w.job !== null).length} busy)`
        : "");
  } catch (e) {
    $("#system").textContent = "server unreachable: " + e.message;
  }
}

// ---- LoRAs: one row per file of the server's folder (checkbox + scale slider) --------------
function showLoras(list) {
  const names = list.map((l) => l.name).join("\n");
  if (names === state.loraNames) return;  // rebuilt only when the folder changed: keeps choices
  state.loraNames = names;
  const chosen = Object.fromEntries(currentLoras().map((l) => [l.name, l.scale]));
  const ul = $("#lora-list");
  ul.replaceChildren();
  for (const l of list) {
    const id = "lora-" + ul.children.length;
    const box = el("input", { type: "checkbox", id, "data-lora": l.name });
    const slider = el("input", { type: "range", min: "-2", max: "2", step: "0.05", value: "1",
                                 "aria-label": `Scale of ${l.name}` });
    const shown = el("output", {}, "1.00");
    if (l.name in chosen) { box.checked = true; slider.value = chosen[l.name]; }
    shown.textContent = Number(slider.value).toFixed(2);
    slider.addEventListener("input", () => { shown.textContent = Number(slider.value).toFixed(2); });
    ul.append(el("li", {}, box, el("label", { for: id }, `${l.name} `, el("small", {}, bytes(l.bytes))),
                 slider, shown));
  }
  $("#loras").hidden = list.length === 0;
}

function currentLoras() {
  const out = [];
  for (const li of document.querySelectorAll("#lora-list li")) {
    const box = li.querySelector("input[type=checkbox]");
    if (box.checked) out.push({ name: box.dataset.lora, scale: Number(li.querySelector("input[type=range]").value) });
  }
  return out;
}

function setLoras(loras) {
  const want = Object.fromEntries((loras || []).map((l) => [l.name, l.scale]));
  for (const li of document.querySelectorAll("#lora-list li")) {
    const box = li.querySelector("input[type=checkbox]");
    const slider = li.querySelector("input[type=range]");
    box.checked = box.dataset.lora in want;
    if (box.checked) slider.value = want[box.dataset.lora];
    li.querySelector("output").textContent = Number(slider.value).toFixed(2);
  }
}

// ---- the form ----------------------------------------------------------------------------
function setFile(file) {
  if (!file) return;
  state.file = file;
  const img = $("#image-preview");
  img.src = URL.createObjectURL(file);
  img.hidden = false;
  $("#drop-help").firstChild.textContent = file.name + " — drop another, or ";
}

function formParams() {
  const num = (id) => Number($(id).value);
  const p = {
    prompt: $("#prompt").value,
    negative_prompt: $("#negative_prompt").value,
    resolution: $("#resolution").value,
    frames: num("#frames"), fps: num("#fps"), steps: num("#steps"),
    guidance: num("#guidance"), seed: num("#seed"),
  };
  const loras = currentLoras();
  if (loras.length) p.loras = loras;
  if (p.resolution === "custom") {
    delete p.resolution;
    p.width = num("#width");
    p.height = num("#height");
  }
  return p;
}

function showCustomSize() {
  const custom = $("#resolution").value === "custom";
  for (const e of document.querySelectorAll(".custom-size")) e.hidden = !custom;
}

function fillForm(p) {
  $("#prompt").value = p.prompt || "";
  $("#negative_prompt").value = p.negative_prompt || "";
  if (p.resolution) $("#resolution").value = p.resolution;
  if (p.resolution === "custom") { $("#width").value = p.width; $("#height").value = p.height; }
  showCustomSize();
  for (const k of ["frames", "fps", "steps", "guidance", "seed"]) if (p[k] !== undefined) $("#" + k).value = p[k];
  setLoras(p.loras);
  markPreset();
  estimateSoon();
}

function applyPreset(name) {
  const p = state.presets[name] || {
    quick: { resolution: "256p", frames: 8, steps: 30 },
    standard: { resolution: "512p", frames: 16, steps: 50 },
    high: { resolution: "768p", frames: 24, steps: 80 } }[name];
  $("#resolution").value = p.resolution;
  showCustomSize();
  $("#frames").value = p.frames;
  $("#steps").value = p.steps;
  markPreset();
  estimateSoon();
}

function markPreset() {
  for (const b of document.querySelectorAll("[data-preset]")) {
    const p = state.presets[b.dataset.preset];
    const on = p && p.resolution === $("#resolution").value && p.frames === Number($("#frames").value) &&
      p.steps === Number($("#steps").value);
    b.classList.toggle("active", !!on);
    b.setAttribute("aria-pressed", on ? "true" : "false");
  }
}

let estimateTimer = null;
function estimateSoon() {
  clearTimeout(estimateTimer);
  estimateTimer = setTimeout(estimate, 200);
}
async function estimate() {
  const out = $("#estimate");
  const p = formParams();
  delete p.prompt; delete p.negative_prompt; delete p.seed;
  try {
    const r = await api("/api/estimate", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(p) });
    const e = r.estimate;
    out.textContent = `Memory estimate: about ${bytes(e.predicted_peak_bytes)} peak with plan ` +
      `"${e.plan}" (weights ${bytes(e.weights_bytes)} + activations ${bytes(e.activation_bytes)}), ` +
      `${bytes(e.available_bytes)} available.` + (e.exact === false ? " Approximate (8-bit weights or tiled VAE)." : "") +
      (e.fits ? "" : " Does not fit: " + e.message);
    out.classList.toggle("warn", !e.fits);
    out.title = e.method;
  } catch (err) {
    out.textContent = "Memory estimate: " + err.message;
    out.classList.add("warn");
  }
}

async function submit(ev) {
  ev.preventDefault();
  const err = $("#form-error");
  err.hidden = true;
  if (!state.file) { showFormError("Pick an image first."); return; }
  if (!$("#prompt").value.trim()) { showFormError("Write a prompt."); $("#prompt").focus(); return; }
  const fd = new FormData();
  fd.append("image", state.file, state.file.name || "image");
  fd.append("params", new Blob([JSON.stringify(formParams())], { type: "application/json" }), "params.json");
  $("#generate").disabled = true;
  try {
    const job = await api("/api/jobs", { method: "POST", body: fd });
    watch(job);
    refreshJobs();
  } catch (e) {
    showFormError(e.message);
  } finally {
    $("#generate").disabled = false;
  }
}
function showFormError(msg) {
  const err = $("#form-error");
  err.textContent = msg;
  err.hidden = false;
}

// ---- the current job ---------------------------------------------------------------------
function showJob(job) {
  const p = job.params;
  $("#current-title").textContent = `Video #${job.id}`;
  $("#details").hidden = false;
  $("#details-text").textContent = JSON.stringify({ params: p, status: job.status, error: job.error || undefined,
    result: job.result }, null, 2);
  $("#cancel").hidden = !(job.status === "queued" || job.status === "running");
  $("#cancel").dataset.job = job.id;
  if (job.status === "finished") showVideo(job.urls);
  else { $("#player").hidden = true; $("#download").hidden = true; }
  if (job.status === "finished") {
    setStatus(`Done: ${job.result.video} · ${p.width}×${p.height}, ${p.frames} frames at ${p.fps} fps, seed ${p.seed}` +
      (job.interrupted ? ` (resumed after ${job.interrupted} interruption${job.interrupted > 1 ? "s" : ""})` : ""));
  } else if (job.status === "failed") setStatus("Failed: " + job.error);
  else if (job.status === "cancelled") setStatus("Cancelled.");
  else if (job.status === "queued") setStatus("Waiting in the queue…");
  else if (job.status === "running") setStatus(`Generating… step ${job.step} of ${job.total_steps}`);
  if (job.status !== "running") $("#progress").hidden = job.status !== "finished";
  if (job.status === "finished") { $("#progress").value = 1; $("#progress-text").textContent = `Done in ${seconds(job.result.seconds)}.`; }
  else if (job.status !== "running") $("#progress-text").textContent = "";
}
function setStatus(text) { $("#status").textContent = text; }

function showVideo(urls) {
  const player = $("#player");
  player.src = withToken(urls.video);
  player.hidden = false;
  $("#live-preview").hidden = true;
  $("#decoded-frames").hidden = true;
  $("#frames-text").hidden = true;
  const dl = $("#download");
  dl.href = withToken(urls.video + "?download=1");
  dl.setAttribute("download", urls.video.split("/").pop());
  dl.hidden = false;
}

function watch(job) {
  if (state.events) state.events.close();
  state.watching = job.id;
  $("#live-preview").hidden = true;
  $("#decoded-frames").replaceChildren();
  $("#decoded-frames").hidden = true;
  $("#frames-text").hidden = true;
  showJob(job);
  const es = new EventSource(withToken(`/api/jobs/${job.id}/events`));
  state.events = es;
  const data = (e) => JSON.parse(e.data);
  es.addEventListener("state", (e) => showJob(data(e)));
  es.addEventListener("queued", () => setStatus("Waiting in the queue…"));
  es.addEventListener("started", (e) => {
    const d = data(e);
    const shared = state.system && (state.system.jobs_store || "").startsWith("postgres");
    const where = shared && d.worker ? ` on ${d.worker.split(":")[0]}` : "";  // its host
    setStatus(`Generating${where}… (attempt ${d.attempt})`);
    $("#progress").hidden = false; $("#progress").value = 0; $("#cancel").hidden = false;
  });
  es.addEventListener("step", (e) => {
    const d = data(e);
    $("#progress").hidden = false;
    $("#progress").value = d.step / d.total;
    setStatus(`Generating… step ${d.step} of ${d.total}`);
    $("#progress-text").textContent = `${d.seconds_per_step.toFixed(2)} s/step · ETA ${seconds(d.eta_seconds)}` +
      ` · RSS ${bytes(d.memory.rss_bytes)} (peak ${bytes(d.memory.peak_rss_bytes)})`;
  });
  es.addEventListener("preview", (e) => {
    const img = $("#live-preview");
    img.src = data(e).image;
    img.hidden = false;
  });
  // Streaming output: each frame as soon as it is decoded; the big picture shows the newest.
  es.addEventListener("frame", (e) => {
    const d = data(e);
    const img = $("#live-preview");
    img.src = d.image;
    img.alt = `Decoded frame ${d.index + 1} of ${d.total}`;
    img.hidden = false;
    const strip = $("#decoded-frames");
    if (d.index === 0) strip.replaceChildren();
    strip.append(el("img", { src: d.image, alt: `Frame ${d.index + 1}`, title: `Frame ${d.index + 1}` }));
    strip.hidden = false;
    $("#frames-text").hidden = false;
    $("#frames-text").textContent = `Decoded ${d.index + 1} of ${d.total} frames (${seconds(d.elapsed_seconds)})`;
    setStatus(`Decoding… frame ${d.index + 1} of ${d.total}`);
  });
  const end = async () => {
    es.close();
    if (state.events === es) state.events = null;
    try { showJob(await api(`/api/jobs/${job.id}`)); } catch (e) { /* deleted */ }
    refreshJobs();
  };
  es.addEventListener("finished", end);
  es.addEventListener("failed", end);
  es.addEventListener("cancelled", end);
  es.addEventListener("interrupted", (e) => setStatus(data(e).reason === "the server is stopping"
    ? "The server stopped; the job will resume when it is back."
    : `Interrupted (${data(e).reason}); the job is queued again.`));
}

async function cancel(id) {
  try { await api(`/api/jobs/${id}`, { method: "DELETE" }); } catch (e) { setStatus(e.message); }
  refreshJobs();
}

// ---- queue and history -------------------------------------------------------------------
async function refreshJobs() {
  let list;
  try { list = await api("/api/jobs?limit=60"); } catch (e) { return; }
  const queue = $("#queue");
  queue.replaceChildren();
  const waiting = list.jobs.filter((j) => j.status === "queued" || j.status === "running").reverse();
  if (!waiting.length) queue.append(el("li", { class: "empty" }, "Empty."));
  for (const j of waiting) {
    queue.append(el("li", {},
      el("span", {}, el("span", { class: "badge " + j.status }, j.status), ` #${j.id} ${j.params.prompt.slice(0, 40)}`),
      el("span", {},
        el("button", { type: "button", onclick: () => watch(j) }, "Watch"), " ",
        el("button", { type: "button", "aria-label": `Cancel job ${j.id}`, onclick: () => cancel(j.id) }, "Cancel"))));
  }
  const hist = $("#history");
  hist.replaceChildren();
  const done = list.jobs.filter((j) => !(j.status === "queued" || j.status === "running"));
  if (!done.length) hist.append(el("li", { class: "empty" }, "No videos yet."));
  for (const j of done) {
    const p = j.params;
    const pic = j.urls.thumbnail
      ? el("img", { src: withToken(j.urls.thumbnail), alt: `First frame of video ${j.id}`, loading: "lazy" })
      : el("div", { class: "noimg" }, j.status);
    hist.append(el("li", { class: "item", "data-job": j.id }, pic,
      el("div", { class: "meta" },
        el("p", { title: p.prompt }, p.prompt),
        el("p", {}, el("span", { class: "badge " + j.status }, j.status), ` ${p.width}×${p.height} · ${p.frames} f · ${p.steps} st · seed ${p.seed}`)),
      el("div", { class: "buttons" },
        el("button", { type: "button", onclick: () => { watch(j); $("#current").scrollIntoView({ behavior: "smooth" }); } }, "View"),
        el("button", { type: "button", onclick: () => rerun(j) }, "Re-run"),
        el("button", { type: "button", "aria-label": `Delete video ${j.id}`, onclick: () => remove(j) }, "Delete"))));
  }
}

async function rerun(job) {
  fillForm(job.params);
  try {
    const res = await fetch(withToken(job.image_url));
    const blob = await res.blob();
    setFile(new File([blob], job.image_name || "image", { type: blob.type }));
  } catch (e) { showFormError("Could not load the job's image: " + e.message); }
  $("#form").scrollIntoView({ behavior: "smooth" });
  $("#prompt").focus();
}

async function remove(job) {
  if (!confirm(`Delete video #${job.id} and its files?`)) return;
  try { await api(`/api/jobs/${job.id}`, { method: "DELETE" }); } catch (e) { alert(e.message); }
  refreshJobs();
}

// ---- wiring ------------------------------------------------------------------------------
function init() {
  const drop = $("#drop");
  const input = $("#image");
  input.addEventListener("change", () => setFile(input.files[0]));
  drop.addEventListener("click", (e) => { if (e.target !== input && e.target.tagName !== "LABEL") input.click(); });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) setFile(e.dataTransfer.files[0]);
  });
  for (const b of document.querySelectorAll("[data-preset]")) b.addEventListener("click", () => applyPreset(b.dataset.preset));
  $("#dice").addEventListener("click", () => { $("#seed").value = Math.floor(Math.random() * 2147483647); });
  $("#resolution").addEventListener("change", showCustomSize);
  for (const id of ["#resolution", "#width", "#height", "#frames", "#fps", "#steps", "#guidance"]) {
    $(id).addEventListener("input", () => { markPreset(); estimateSoon(); });
  }
  $("#form").addEventListener("submit", submit);
  $("#cancel").addEventListener("click", () => cancel(Number($("#cancel").dataset.job)));
  refreshSystem().then(() => { markPreset(); estimate(); });
  refreshJobs().then(async () => {
    // Follow a job that is running already (page reloaded mid-job).
    try {
      const running = await api("/api/jobs?status=running&limit=1");
      if (running.jobs.length) watch(running.jobs[0]);
    } catch (e) { /* ignore */ }
  });
  setInterval(refreshSystem, 5000);
  setInterval(refreshJobs, 4000);
}
init();
