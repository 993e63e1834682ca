"use strict";
const $ = (id) => document.getElementById(id);
let contentFile = null, styleName = null, styleFile = null, jobId = null, source = null;

// a server started with --token asks for it once; it is kept for this tab only
let token = sessionStorage.getItem("painterly-token") || "";
const withToken = (opts) => ({ ...opts, headers: { ...(opts.headers || {}),
  ...(token ? { Authorization: `Bearer ${token}` } : {}) } });
async function api(url, opts = {}) {
  let res = await fetch(url, withToken(opts));
  if (res.status === 401) {
    const t = window.prompt("This server needs its access token:");
    if (t) { token = t; sessionStorage.setItem("painterly-token", t); res = await fetch(url, withToken(opts)); }
  }
  return res;
}
// EventSource and <img>/<a> cannot send headers: the token goes in the query
const authed = (url) => (token ? `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : url);

function showError(msg) { const e = $("error"); e.textContent = msg; e.hidden = !msg; }

const isVideo = (file) => !!file && file.type.startsWith("video/");

function setContent(file) {
  if (!file) return;
  contentFile = file;
  $("clip").hidden = true; $("compare").hidden = isVideo(file);
  if (isVideo(file)) { $("drop-text").textContent = `${file.name} (a clip: use the quick preview)`; return; }
  const img = $("content-preview");
  img.src = URL.createObjectURL(file); img.hidden = false;
  $("before").src = img.src; $("after").src = "";
  $("drop-text").textContent = file.name;
}

async function loadStyles() {
  const res = await fetch("/api/styles");
  const styles = await res.json();
  const box = $("styles");
  styles.forEach((s, i) => {
    const b = document.createElement("button");
    b.type = "button"; b.title = s.title; b.dataset.name = s.name;
    b.setAttribute("role", "radio"); b.setAttribute("aria-checked", i === 0 ? "true" : "false");
    b.innerHTML = `<img src="${s.url}" alt="${s.title}">`;
    b.onclick = () => { styleName = s.name; styleFile = null; $("style-file").value = "";
      box.querySelectorAll("button").forEach((x) => x.setAttribute("aria-checked", x === b ? "true" : "false")); };
    box.appendChild(b);
    if (i === 0) styleName = s.name;
  });
}

function syncAfterWidth() {
  const w = $("before").clientWidth;
  $("after").style.width = w + "px";
  $("after-wrap").style.width = $("split").value + "%";
}

async function start() {
  if (isVideo(contentFile)) { showError("Clips run through the quick preview (a fast model, steadied by optical flow)."); return; }
  showError("");
  if (!contentFile) { showError("Choose a photo first."); return; }
  const form = new FormData();
  form.append("content", contentFile);
  if (styleFile) form.append("style", styleFile); else form.append("style_name", styleName);
  for (const k of ["style_weight", "size", "content_weight", "tv_weight"]) form.append(k, $(k).value);
  if ($("original_colors").checked) form.append("original_colors", "luminance");
  form.append("face_aware", $("face_aware").checked ? "true" : "false");
  form.append("face_paint", $("face_paint").value);
  if ($("preset").value) form.append("preset", $("preset").value);
  $("go").disabled = true; $("download").hidden = true; $("identity").textContent = "";
  $("status").textContent = "uploading";
  let res;
  try { res = await api("/api/jobs", { method: "POST", body: form }); }
  catch (e) { showError("Could not reach the server."); $("go").disabled = false; return; }
  const body = await res.json().catch(() => ({}));
  if (res.status !== 202) {
    showError(body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail))
                          : `The server said ${res.status}.`);
    $("go").disabled = false; $("status").textContent = "idle"; return;
  }
  jobId = body.id; $("cancel").hidden = false;
  follow(jobId);
}

let fastModels = [];

async function quick() {
  showError("");
  if (!contentFile) { showError("Choose a photo first."); return; }
  const form = new FormData();
  form.append("content", contentFile);
  if (styleFile) form.append("style", styleFile);
  else if (fastModels.includes(styleName)) form.append("model", styleName);
  else form.append("style_name", styleName);
  form.append("size", $("size").value);
  if ($("original_colors").checked) form.append("original_colors", "luminance");
  form.append("face_pass", $("face_aware").checked ? "true" : "false");
  const video = isVideo(contentFile);
  if (video) form.delete("original_colors");
  $("quick").disabled = true; $("status").textContent = video ? "stylising the clip" : "quick preview";
  try {
    const res = await api(video ? "/api/fast/video" : "/api/fast", { method: "POST", body: form });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      showError(body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail))
                            : `The server said ${res.status}.`);
      $("status").textContent = "idle"; return;
    }
    const url = URL.createObjectURL(await res.blob());
    if (video) {
      $("clip").src = url; $("clip").hidden = false;
      $("download").download = "painterly.mp4"; $("download").textContent = "Download MP4";
    } else {
      $("after").src = url; $("after").onload = syncAfterWidth;
      $("download").download = "painterly.png"; $("download").textContent = "Download PNG";
    }
    $("download").href = url; $("download").hidden = false;
    $("status").textContent = "quick preview done"; $("progress").value = 1;
  } catch (e) { showError("Could not reach the server."); }
  finally { $("quick").disabled = false; }
}

function follow(id) {
  if (source) source.close();
  source = new EventSource(authed(`/api/jobs/${id}/events`));
  source.addEventListener("progress", (ev) => {
    const d = JSON.parse(ev.data);
    $("progress").value = d.progress.fraction;
    $("status").textContent = d.state === "running" ? `step ${d.progress.step} / ${d.progress.total}` : d.state;
    if (d.preview) { $("after").src = d.preview; syncAfterWidth(); }
  });
  source.addEventListener("end", (ev) => {
    source.close();
    const d = JSON.parse(ev.data);
    $("go").disabled = false; $("cancel").hidden = true;
    $("status").textContent = d.state;
    if (d.state === "done") {
      $("progress").value = 1;
      const url = authed(`/api/jobs/${id}/result`);
      $("after").src = url; $("after").onload = syncAfterWidth;
      $("download").href = url; $("download").hidden = false;
      const ids = (d.identity_distance || []).filter((x) => x !== null);
      if (ids.length) $("identity").textContent =
        `Identity distance ${ids.map((x) => x.toFixed(2)).join(", ")} (the same person is below 0.6)`;
    } else if (d.state === "failed") { showError(`The job failed: ${d.error}`); }
  });
  source.onerror = () => { $("status").textContent = "connection lost; retrying"; };
}

function init() {
  const drop = $("drop");
  $("content").addEventListener("change", (e) => setContent(e.target.files[0]));
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (e) => setContent(e.dataTransfer.files[0]));
  $("style-file").addEventListener("change", (e) => { styleFile = e.target.files[0]; styleName = null;
    $("styles").querySelectorAll("button").forEach((x) => x.setAttribute("aria-checked", "false")); });
  document.querySelectorAll("input[type=range]").forEach((r) => {
    const out = document.querySelector(`output[for=${r.id}]`);
    if (out) r.addEventListener("input", () => { out.textContent = r.value; });
  });
  $("split").addEventListener("input", syncAfterWidth);
  window.addEventListener("resize", syncAfterWidth);
  $("go").addEventListener("click", start);
  $("quick").addEventListener("click", quick);
  api("/api/fast/models").then((r) => r.json())
    .then((ms) => { fastModels = ms.filter((m) => m.kind === "style").map((m) => m.name); }).catch(() => {});
  $("cancel").addEventListener("click", () => jobId && api(`/api/jobs/${jobId}/cancel`, { method: "POST" }));
  loadStyles().catch(() => showError("Could not load the built-in styles."));
}
init();
