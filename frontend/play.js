// The player page: speaks the play WebSocket protocol of docs/protocol.md.
const $ = (id) => document.getElementById(id);
const HEADER = 16; // binary frame header, then JPEG
const SIXDOF = /3dconnexion|spacemouse|space ?navigator|space ?pilot/i; // such pads report x, y, z, rx, ry, rz
let ws = null;
let session = null;

function log(text) {
  const li = document.createElement("li");
  li.textContent = text;
  $("log").prepend(li);
}

function send(message) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

// ---------------------------------------------------------------- joining: a participant link carries ?token=
async function loadStudy(token) {
  const response = await fetch("/api/participant/study", { headers: { Authorization: `Bearer ${token}` } });
  const select = $("env");
  select.replaceChildren();
  if (!response.ok) {
    $("study-name").textContent = (await response.json()).detail;
    return;
  }
  const study = await response.json();
  $("study-name").textContent = `${study.name}${study.instructions ? " — " + study.instructions : ""}`;
  for (const env of study.environments) select.append(new Option(`${env.id} (${env.env_id})`, env.id));
}

const fromLink = new URLSearchParams(location.search).get("token");
if (fromLink) {
  $("token").value = fromLink;
  loadStudy(fromLink);
}
$("token").addEventListener("change", () => loadStudy($("token").value.trim()));

// ---------------------------------------------------------------- the connection: reconnects and resumes
// The token travels as a subprotocol, not in the URL (which access logs keep).
const BACKOFF_FIRST_MS = 250;
const BACKOFF_CAP_MS = 2000;
const RECONNECT_WITHIN_MS = 60000; // then give up and say so
const GONE = ["session_gone", "unknown_session"];
let sessionId = sessionStorage.getItem("playcorder-session");
let leaving = false; // the session is over (or refused): do not reconnect
let lostAt = null;
let backoff = BACKOFF_FIRST_MS;

function remember(id) {
  sessionId = id;
  if (id) sessionStorage.setItem("playcorder-session", id);
  else sessionStorage.removeItem("playcorder-session");
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const token = $("token").value.trim();
  ws = new WebSocket(`${scheme}://${location.host}/ws/play`, ["playcorder", `token.${token}`]);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    // A session paused while we were away resumes on the participant's next key, not on keys held before.
    held.clear();
    touched.clear();
    lastInput = "";
    send(sessionId ? { type: "resume_session", session_id: sessionId } : { type: "select_env", env: $("env").value });
  };
  ws.onmessage = (m) => (typeof m.data === "string" ? onEvent(JSON.parse(m.data)) : drawFrame(m.data));
  ws.onclose = (m) => reconnect(m.code);
}

function reconnect(code) {
  // The gateway closes with 1000 after worker_lost too: reconnect then (a new session), unless the session is over.
  if (leaving || code === 4401) {
    $("status").textContent = `disconnected (${code})`;
    return;
  }
  lostAt = lostAt ?? Date.now();
  if (Date.now() - lostAt + backoff > RECONNECT_WITHIN_MS) {
    $("status").textContent = `disconnected (${code}); reload the page to try again`;
    return;
  }
  $("status").textContent = "reconnecting…";
  setTimeout(connect, backoff);
  backoff = Math.min(backoff * 2, BACKOFF_CAP_MS);
}

$("join").addEventListener("submit", (e) => {
  e.preventDefault();
  if (ws) {
    ws.onclose = null; // a deliberate end (code 1000 ends the session): no reconnect
    ws.close(1000);
    remember(null);
  } // else a session kept from before a reload of this tab is resumed if its worker still holds it
  leaving = false;
  connect();
});

// ---------------------------------------------------------------- what the server sends
async function drawFrame(buffer) {
  const view = new DataView(buffer);
  $("step").textContent = view.getUint32(4, true);
  $("return").textContent = view.getFloat32(12, true).toFixed(1);
  const bitmap = await createImageBitmap(new Blob([buffer.slice(HEADER)], { type: "image/jpeg" }));
  const canvas = $("screen");
  if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
  }
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
}

function onEvent(event) {
  switch (event.type) {
    case "session":
      session = event;
      remember(event.session_id);
      lostAt = null;
      backoff = BACKOFF_FIRST_MS;
      $("instructions").textContent = event.instructions;
      $("player").hidden = false;
      $("join").hidden = true;
      $("speed-box").hidden = event.mode !== "realtime" && !event.step_while_held;
      showTouchControls(event.touch_controls);
      showCameras(event.cameras);
      $("status").textContent = `playing ${event.env_id}`;
      break;
    case "state":
      onState(event);
      break;
    case "episode_started":
      log(`episode ${event.index} started`);
      break;
    case "episode_finished":
      log(`episode finished (${event.reason}) after ${event.num_steps} steps, return ${event.total_reward}: keep it?`);
      break;
    case "episode_ended":
      log(`episode ended: ${event.state} (${event.reason}), ${event.num_steps} steps, return ${event.total_reward}`);
      break;
    case "session_ended":
      log(`session ended: ${event.reason}`);
      leaving = true;
      remember(null);
      break;
    case "error":
      onError(event);
      break;
  }
}

function onError(event) {
  log(`error ${event.code}: ${event.message}`);
  if (GONE.includes(event.code)) {
    remember(null); // its worker no longer holds it: a new session, a new episode
    send({ type: "select_env", env: session ? session.env : $("env").value });
  } else if (event.code === "worker_lost") {
    remember(null); // the gateway closes the socket: reconnect with a new session
  } else if (event.code === "connection_lost") {
    $("status").textContent = "reconnecting…"; // the gateway resyncs the session when it is back
  } else if (["env_failed", "session_failed", "unauthorized"].includes(event.code)) {
    leaving = true;
  }
}

let paused = true;
let awaitingSave = false;

function onState(event) {
  if (session) $("status").textContent = `playing ${session.env_id}`;
  paused = event.state !== "running";
  awaitingSave = event.state === "awaiting_save";
  const hint = { paused: "press a key to play", idle: "Enter starts a new episode" }[event.state];
  // paused with reason client_lost: the connection dropped and came back; the participant's next key resumes
  $("state").textContent = event.state + (event.reason ? ` (${event.reason})` : "") + (hint ? ` · ${hint}` : "");
  $("save").hidden = !awaitingSave;
  $("speed").value = event.fps;
  $("fps").textContent = event.fps;
  const quality = [...$("quality").options].reduce((best, o) =>
    Math.abs(o.value - event.jpeg_quality) < Math.abs(best.value - event.jpeg_quality) ? o : best);
  $("quality").value = quality.value;
  if (event.camera !== null && event.camera !== undefined) $("camera").value = event.camera;
}

// ---------------------------------------------------------------- controls
function showTouchControls(names) {
  // On-screen controls send the same input state as keys, named like keys.
  const box = $("touch");
  box.replaceChildren();
  for (const name of names) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = name;
    const press = (down) => (e) => {
      e.preventDefault();
      down ? touched.add(name) : touched.delete(name);
      sendInput();
    };
    b.addEventListener("pointerdown", press(true));
    b.addEventListener("pointerup", press(false));
    b.addEventListener("pointercancel", press(false));
    b.addEventListener("pointerleave", press(false));
    box.append(b);
  }
}

function showCameras(cameras) {
  $("camera-box").hidden = cameras.length === 0;
  $("camera").replaceChildren(...cameras.map((c) => new Option(c, c)));
}

$("pause").addEventListener("click", () => send({ type: paused ? "resume" : "pause" }));
$("new").addEventListener("click", () => send({ type: "new_episode" }));
$("cancel").addEventListener("click", () => send({ type: "cancel" }));
$("keep").addEventListener("click", () => send({ type: "save", save: true }));
$("discard").addEventListener("click", () => send({ type: "save", save: false }));
$("speed").addEventListener("change", () => send({ type: "set_fps", fps: Number($("speed").value) }));
$("speed").addEventListener("input", () => ($("fps").textContent = $("speed").value));
$("quality").addEventListener("change", () => send({ type: "set_quality", jpeg_quality: Number($("quality").value) }));
$("camera").addEventListener("change", () => send({ type: "set_camera", camera: $("camera").value }));

// ---------------------------------------------------------------- raw input: sent whenever it changes
const held = new Set();
const touched = new Set();
let lastInput = "";

function padState() {
  const state = { buttons: [], axes: [], sixdof: [] };
  for (const pad of navigator.getGamepads ? navigator.getGamepads() : []) {
    if (!pad) continue;
    const axes = pad.axes.map((a) => Math.round(a * 100) / 100);
    if (SIXDOF.test(pad.id) && axes.length >= 6 && state.sixdof.length === 0) state.sixdof = axes.slice(0, 6);
    else if (state.axes.length === 0) {
      state.axes = axes;
      state.buttons = pad.buttons.map((b) => b.value);
    }
  }
  return state;
}

function sendInput() {
  if (!session) return;
  const state = { type: "input", keys: [...held], touch: [...touched], ...padState() };
  const text = JSON.stringify(state);
  if (text !== lastInput) {
    lastInput = text;
    send(state);
  }
}

setInterval(sendInput, 50); // gamepads have no events for axis moves: poll them

function cameraKey(key) {
  // Keys 1-9 switch cameras, as in RLDS Creator, unless the environment binds the digit to an action.
  if (!session || session.cameras.length === 0 || !/^[1-9]$/.test(key)) return false;
  const bound = JSON.stringify(session.input_map).includes(`"${key}"`);
  const camera = session.cameras[Number(key) - 1];
  if (bound || camera === undefined) return false;
  send({ type: "set_camera", camera });
  return true;
}

// Once a control is used, keys go back to the game (a focused slider or list would swallow the arrows).
for (const id of ["speed", "quality", "camera"]) $(id).addEventListener("change", (e) => e.target.blur());
document.querySelectorAll(".controls button").forEach((b) => b.addEventListener("click", () => b.blur()));

document.addEventListener("keydown", (e) => {
  if ($("join").contains(e.target) || !session) return;
  if (awaitingSave && (e.key === "y" || e.key === "n")) send({ type: "save", save: e.key === "y" });
  else if (e.key === "Enter") send({ type: "new_episode" });
  else if (e.key === "Escape") send({ type: paused ? "resume" : "pause" });
  else if (!cameraKey(e.key)) {
    held.add(e.key);
    sendInput();
  }
  e.preventDefault();
});

document.addEventListener("keyup", (e) => {
  held.delete(e.key);
  sendInput();
});

window.addEventListener("blur", () => {
  // Keys released while the window is not focused never send keyup: drop them rather than hold them forever.
  held.clear();
  touched.clear();
  sendInput();
});
