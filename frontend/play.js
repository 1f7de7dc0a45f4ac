// Minimal player: speaks the play WebSocket protocol of docs/protocol.md.
const $ = (id) => document.getElementById(id);
const HEADER = 16; // binary frame header, then JPEG
let ws = null;
let actionCount = 0;

function log(text) {
  const li = document.createElement("li");
  li.textContent = text;
  $("log").prepend(li);
}

function send(message) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

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

function showActions(space) {
  const box = $("actions");
  box.replaceChildren();
  actionCount = space.type === "discrete" ? space.n : 0;
  for (let i = 0; i < actionCount; i++) {
    const b = document.createElement("button");
    b.textContent = String(i);
    b.onclick = () => send({ type: "action", action: i + (space.start || 0), keys: [`Button${i}`] });
    box.append(b);
  }
}

function onEvent(event) {
  switch (event.type) {
    case "session":
      $("instructions").textContent = event.instructions;
      $("player").hidden = false;
      showActions(event.action_space);
      $("status").textContent = `playing ${event.env_id}`;
      break;
    case "episode_started":
      log(`episode ${event.index} started`);
      break;
    case "episode_ended":
      log(`episode ended: ${event.state} (${event.reason}), ${event.num_steps} steps, return ${event.total_reward}`);
      break;
    case "error":
      log(`error ${event.code}: ${event.message}`);
      break;
  }
}

$("join").addEventListener("submit", (e) => {
  e.preventDefault();
  if (ws) ws.close();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${scheme}://${location.host}/ws/play?token=${encodeURIComponent($("token").value)}`);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => send({ type: "select_env", env: $("env").value });
  ws.onmessage = (m) => (typeof m.data === "string" ? onEvent(JSON.parse(m.data)) : drawFrame(m.data));
  ws.onclose = (m) => ($("status").textContent = `disconnected (${m.code})`);
});

document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT") return;
  if (e.key === "Enter") send({ type: "new_episode" });
  else if (e.key === "Escape") send({ type: "end_episode", save: true });
  else if (/^[0-9]$/.test(e.key) && Number(e.key) < actionCount) {
    send({ type: "action", action: Number(e.key), keys: [e.key] });
  }
});
