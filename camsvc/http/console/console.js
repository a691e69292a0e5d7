// The camsvc web console: log in, watch cameras live, snapshot and record, manage files, read health.
// Plain ES modules, no build step; see docs/console.md.

import { RpcConnection, RpcError } from "./rpc.js";
import { LiveView } from "./live.js";
import { el, formatBytes, formatTime, formatDuration } from "./dom.js";

const TOKEN_KEY = "camsvc.token";
const ROLE_RANK = { viewer: 0, operator: 1, admin: 2 };
const EXTRA_TOPICS = ["snapshot_taken", "system_health_update"];

const $ = (id) => document.getElementById(id);

const state = {
  rpc: null,
  role: null,
  cameras: new Map(), // device → camera object
  busy: new Set(), // devices with an operation in flight
  cameraNotes: new Map(), // device → last operation message
  durations: new Map(), // device → the "record for" value being typed (cards are re-rendered on every event)
  live: null,
};

// ---------------------------------------------------------------- credentials

// A link like http://host:8003/#token=... logs straight in. The fragment never reaches a server;
// it is moved into this tab's sessionStorage and removed from the address bar and history.
function takeTokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, "", location.pathname + location.search);
  }
}

function allows(role) {
  return state.role !== null && ROLE_RANK[state.role] >= ROLE_RANK[role];
}

// ---------------------------------------------------------------- connection

const STATE_TEXT = {
  connecting: () => "Connecting…",
  authenticating: () => "Logging in…",
  connected: (d) => `Connected as ${d.user} (${d.role})`,
  disconnected: (d) => `Disconnected — reconnecting in ${Math.ceil(d.retryIn / 1000)} s`,
  auth_failed: () => "Not logged in",
  closed: () => "Logged out",
};

const LOGIN_REFUSED = {
  invalid_token: "The token is not valid for this service.",
  token_expired: "The token has expired; create a new one.",
  unknown_key: "No such API key.",
  revoked_key: "This API key has been revoked.",
};

function showState(name, detail) {
  const conn = $("connection");
  conn.dataset.state = name;
  conn.textContent = STATE_TEXT[name](detail);
  if (name === "auth_failed") {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin(`Login failed: ${LOGIN_REFUSED[detail.reason] || detail.message} (${detail.reason})`);
  }
  if (name === "connected" || name === "disconnected") setControlsEnabled();
}

function showLogin(error = "") {
  $("app").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = error;
  $("login-token").value = "";
  $("login-token").setAttribute("aria-invalid", error ? "true" : "false");
  $("login-token").focus();
}

async function connect(credential) {
  let config;
  try {
    const response = await fetch("console/config", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    config = await response.json();
  } catch (err) {
    showLogin(`Cannot reach the service: ${err.message}`);
    return;
  }
  $("login").hidden = true;
  if (state.rpc) state.rpc.stop(); // one connection per tab, even if the form is sent twice
  state.rpc = new RpcConnection(config.ws_url, credential, {
    onState: showState,
    onNotification: handleNotification,
    onAuthenticated: (result) => loadAll(result).catch(reportError),
    onCredential: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  });
  state.rpc.start();
}

async function loadAll(auth) {
  state.role = auth.role;
  $("app").hidden = false;
  $("logout").hidden = false;
  document.body.dataset.role = auth.role;
  const rpc = state.rpc;
  await rpc.call("subscribe_events", { topics: EXTRA_TOPICS });
  const [info, list] = await Promise.all([rpc.call("get_server_info"), rpc.call("get_camera_list")]);
  $("server-info").textContent = `${info.name} ${info.version}`;
  state.cameras = new Map(list.cameras.map((c) => [c.device, c]));
  setControlsEnabled();
  await Promise.all([loadFiles(), loadHealth()]);
}

function reportError(err) {
  if (err instanceof RpcError && err.reason === "disconnected") return; // shown by the connection state
  console.error(err);
}

// ---------------------------------------------------------------- notifications

function handleNotification(method, params) {
  if (method === "camera_status_update") {
    state.cameras.set(params.device, params);
    renderCameras();
  } else if (method === "recording_status_update") {
    const camera = state.cameras.get(params.device);
    if (camera) camera.recording = params.status === "RECORDING";
    const note = params.status === "RECORDING" ? `Recording to ${params.filename}`
      : params.status === "FAILED" ? `Recording failed: ${params.reason || "unknown"}`
        : `Recording stopped${params.reason ? ` (${params.reason})` : ""}`;
    state.cameraNotes.set(params.device, note);
    renderCameras();
    if (params.status !== "RECORDING") loadFiles().catch(reportError);
  } else if (method === "snapshot_taken") {
    loadFiles().catch(reportError);
  } else if (method === "system_health_update") {
    loadHealth().catch(reportError);
  }
}

// ---------------------------------------------------------------- cameras

function renderCameras() {
  const list = $("camera-list");
  const cameras = [...state.cameras.values()].sort((a, b) => a.device.localeCompare(b.device));
  const connected = cameras.filter((c) => c.status === "CONNECTED").length;
  $("camera-summary").textContent = cameras.length
    ? `${cameras.length} camera${cameras.length === 1 ? "" : "s"}, ${connected} connected`
    : "No cameras found.";
  // Re-rendering must not steal keyboard focus: put it back on the same control of the same camera.
  const focusKey = list.contains(document.activeElement) ? document.activeElement.dataset.key : undefined;
  list.replaceChildren(...cameras.map(cameraCard));
  if (focusKey) list.querySelector(`[data-key="${CSS.escape(focusKey)}"]`)?.focus();
}

function cameraCard(camera) {
  const id = camera.device;
  const canControl = allows("operator");
  const online = camera.status === "CONNECTED";
  const busy = state.busy.has(id) || !isConnected();
  const duration = el("input", {
    id: `duration-${id}`, type: "number", min: "1", step: "1", inputmode: "numeric", placeholder: "until stopped",
    value: state.durations.get(id) || "", "data-key": `${id}:duration`,
    oninput: (event) => state.durations.set(id, event.target.value),
  });
  const actions = [
    el("button", { type: "button", class: "live-btn", disabled: !online, "data-key": `${id}:live`,
      onclick: () => openLive(camera) }, "Live view"),
  ];
  if (canControl) {
    actions.push(
      el("button", { type: "button", class: "snapshot-btn", disabled: !online || busy, "data-key": `${id}:snapshot`,
        onclick: () => snapshot(id) }, "Take snapshot"),
      camera.recording
        ? el("button", { type: "button", class: "record-btn recording", disabled: busy, "data-key": `${id}:record`,
          onclick: () => stopRecording(id) }, "Stop recording")
        : el("button", { type: "button", class: "record-btn", disabled: !online || busy, "data-key": `${id}:record`,
          onclick: () => startRecording(id, duration.value) }, "Start recording"),
    );
  }
  return el("li", { class: "card", "data-device": id, "aria-labelledby": `cam-${id}` },
    el("h3", { id: `cam-${id}` }, camera.name || id),
    el("p", { class: "meta" },
      el("span", { class: `badge status-${camera.status.toLowerCase()}` }, camera.status),
      camera.recording ? el("span", { class: "badge rec", role: "img", "aria-label": "recording" }, "● REC") : "",
      ` ${id} · ${camera.resolution} @ ${camera.fps} fps`),
    canControl && !camera.recording
      ? el("p", { class: "field" }, el("label", { for: duration.id }, "Record for (s)"), duration) : "",
    el("div", { class: "actions" }, ...actions),
    el("p", { class: "note", role: "status", "aria-live": "polite" }, state.cameraNotes.get(id) || ""),
  );
}

function isConnected() {
  return $("connection").dataset.state === "connected";
}

// Controls act through the connection: while it is down they are disabled, and come back with it.
function setControlsEnabled() {
  renderCameras();
  for (const button of document.querySelectorAll("#panel-files button")) button.disabled = !isConnected();
}

async function operate(device, work) {
  state.busy.add(device);
  renderCameras();
  try {
    state.cameraNotes.set(device, await work());
  } catch (err) {
    state.cameraNotes.set(device, `Failed: ${err.message} (${err.reason || "error"})`);
  } finally {
    state.busy.delete(device);
    renderCameras();
  }
}

function snapshot(device) {
  return operate(device, async () => {
    state.cameraNotes.set(device, "Taking snapshot…");
    const result = await state.rpc.call("take_snapshot", { device });
    await loadFiles();
    return `Snapshot saved: ${result.filename}`;
  });
}

function startRecording(device, seconds) {
  const params = { device };
  const duration = Number.parseInt(seconds, 10);
  if (Number.isFinite(duration) && duration > 0) params.duration = duration;
  return operate(device, async () => {
    const result = await state.rpc.call("start_recording", params);
    const camera = state.cameras.get(device);
    if (camera) camera.recording = true;
    return `Recording to ${result.filename}${result.duration ? ` for ${result.duration} s` : ""}`;
  });
}

function stopRecording(device) {
  return operate(device, async () => {
    const result = await state.rpc.call("stop_recording", { device });
    const camera = state.cameras.get(device);
    if (camera) camera.recording = false;
    await loadFiles();
    return `Recording stopped: ${result.files.join(", ") || result.filename}`;
  });
}

function openLive(camera) {
  if (!state.live) state.live = new LiveView($("live"), $("live-video"), $("live-status"), $("live-title"));
  state.live.open(camera);
}

// ---------------------------------------------------------------- files

async function loadFiles() {
  const rpc = state.rpc;
  const [recordings, snapshots] = await Promise.all([
    rpc.call("list_recordings", { limit: 100 }),
    rpc.call("list_snapshots", { limit: 100 }),
  ]);
  renderFiles($("recordings"), "recording", recordings);
  renderFiles($("snapshots"), "snapshot", snapshots);
  const shown = (r, noun) => {
    const count = r.total > r.files.length ? `${r.files.length} of ${r.total}` : `${r.total}`;
    return `${count} ${noun}${r.total === 1 ? "" : "s"}`;
  };
  $("files-status").textContent = `${shown(recordings, "recording")}, ${shown(snapshots, "snapshot")}`;
}

function renderFiles(tbody, fileType, listing) {
  if (!listing.files.length) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: "6", class: "muted" }, `No ${fileType}s yet.`)));
    return;
  }
  tbody.replaceChildren(...listing.files.map((file) => {
    const actions = [
      el("button", { type: "button", class: "download-btn", "aria-label": `Download ${file.filename}`,
        onclick: () => download(fileType, file.filename).catch(fileError) }, "Download"),
    ];
    if (allows("admin")) {
      actions.push(el("button", { type: "button", class: "delete-btn danger", "aria-label": `Delete ${file.filename}`,
        onclick: () => remove(fileType, file.filename).catch(fileError) }, "Delete"));
    }
    return el("tr", { "data-filename": file.filename },
      el("th", { scope: "row", class: "filename" }, file.filename),
      el("td", { "data-label": "Camera" }, file.device || "—"),
      el("td", { "data-label": "Size" }, formatBytes(file.file_size)),
      el("td", { "data-label": "Duration" }, file.duration == null ? "—" : formatDuration(file.duration)),
      el("td", { "data-label": "Created" }, formatTime(file.created_time)),
      el("td", { class: "actions" }, ...actions));
  }));
}

function fileError(err) {
  $("files-status").textContent = `Failed: ${err.message} (${err.reason || "error"})`;
}

// Downloads go through a short-lived URL signed for that one file, so no credential is put in a link.
async function download(fileType, filename) {
  const { url } = await state.rpc.call("get_download_url", { file_type: fileType, filename, expires_in: 60 });
  const link = el("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  $("files-status").textContent = `Downloading ${filename}`;
}

async function remove(fileType, filename) {
  if (!window.confirm(`Delete ${filename}? This cannot be undone.`)) return;
  await state.rpc.call(fileType === "recording" ? "delete_recording" : "delete_snapshot", { filename });
  await loadFiles();
  $("files-status").textContent = `Deleted ${filename}`;
}

// ---------------------------------------------------------------- health

async function loadHealth() {
  const [system, tree] = await Promise.all([getJson("health/system"), getJson("supervisor")]);
  $("health-status").textContent = `Overall: ${system.status} · version ${system.version} · up ${formatDuration(system.uptime)}`;
  $("components").replaceChildren(...Object.entries(system.components).map(([name, c]) =>
    el("tr", {},
      el("th", { scope: "row" }, name),
      el("td", { "data-label": "Status" }, el("span", { class: `badge health-${c.status}` }, c.status)),
      el("td", { "data-label": "State" }, c.state || "—"),
      el("td", { "data-label": "Restarts" }, String(c.restarts ?? 0)),
      el("td", { "data-label": "Last error" }, c.last_error || "—"))));
  $("supervisor").replaceChildren(supervisorList(tree));
}

async function getJson(path) {
  // 503 still carries the document (unhealthy service), so only a missing body is an error
  const response = await fetch(path, { cache: "no-store" });
  return response.json();
}

function supervisorList(sup) {
  return el("ul", {},
    ...sup.children.map((child) => el("li", {},
      el("span", { class: `state state-${child.state}` }, child.name),
      ` — ${child.state}, ${child.restarts} restart${child.restarts === 1 ? "" : "s"}`,
      child.last_error ? el("span", { class: "error" }, ` (${child.last_error})`) : "",
      child.supervisor ? supervisorList(child.supervisor) : "")));
}

// ---------------------------------------------------------------- tabs (WAI-ARIA tabs pattern)

function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const select = (tab) => {
    for (const t of tabs) {
      const selected = t === tab;
      t.setAttribute("aria-selected", String(selected));
      t.tabIndex = selected ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !selected;
    }
    tab.focus();
    if (tab.id === "tab-health" && state.rpc) loadHealth().catch(reportError);
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const moves = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      select(tabs[(moves[event.key] + tabs.length) % tabs.length]);
    });
  });
}

// ---------------------------------------------------------------- start

function main() {
  setupTabs();
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("login-token").value.trim();
    if (!token) {
      $("login-error").textContent = "Enter a token or API key.";
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    connect(token);
  });
  $("logout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    if (state.live) state.live.close();
    if (state.rpc) state.rpc.stop();
    state.rpc = null;
    state.role = null;
    showLogin();
  });
  $("files-refresh").addEventListener("click", () => loadFiles().catch(fileError));
  $("health-refresh").addEventListener("click", () => loadHealth().catch(reportError));
  $("live-close").addEventListener("click", () => state.live && state.live.close());

  takeTokenFromFragment();
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) connect(token);
  else showLogin();
}

main();
