// Drives the web player's connection module (frontend/src/player/connection.ts, built by `make frontend` into
// frontend/dist/player/connection.js) from node against a real gateway, as the player page does: select the
// environment, hold a key once playing, reconnect and resume when the connection drops. Prints what the page shows
// every 0.2 s as a JSON line (tests/webpage.py reads them).
const [host, token, modulePath] = process.argv.slice(2);
const { PlayConnection, describeState } = await import(modulePath);

// Node 20's WebSocket fires no close after a failed handshake (browsers fire close 1006): do as a browser does.
const Native = globalThis.WebSocket;
class BrowserLikeWebSocket extends Native {
  constructor(...args) {
    super(...args);
    let closed = false;
    this.addEventListener("close", () => (closed = true));
    this.addEventListener("error", () => setTimeout(() => {
      if (!closed && this.onclose) { closed = true; this.onclose({ code: 1006 }); }
    }, 50));
  }
}
const storage = { m: {}, getItem(k) { return this.m[k] ?? null; }, setItem(k, v) { this.m[k] = v; },
  removeItem(k) { delete this.m[k]; } };

const player = new PlayConnection({ url: `ws://${host}/ws/play`, token, storage, WebSocket: BrowserLikeWebSocket });
player.start("live");

// What the page's status line and state line show, in the words the resume test looks for.
function status(s) {
  if (s.phase === "playing") return `playing ${s.session.env_id}`;
  if (s.phase === "reconnecting") return "reconnecting…";
  return `${s.phase}: ${s.message}`;
}
function state(s) {
  return s.state ? s.state.state + (s.state.reason ? ` (${s.state.reason})` : "") : "";
}

// Once playing, hold a key as a participant would: the episode runs.
const press = setInterval(() => {
  if (player.snapshot.phase !== "playing") return;
  clearInterval(press);
  player.keyDown("ArrowRight");
}, 100);
// Each status message the page showed, however briefly (a restarting gateway's "reconnecting" lasts under 1 s).
const messages = [];
player.subscribe((s) => {
  if (messages[messages.length - 1] !== s.message) messages.push(s.message);
  if (messages.length > 20) messages.shift();
});
setInterval(() => {
  const s = player.snapshot;
  console.log(JSON.stringify({ status: status(s), state: state(s), shown: describeState(s), step: String(s.step),
    session: storage.m["playcorder-session"] ?? null, rtt_ms: s.rttMs, fps: s.framesPerSecond,
    worker: s.session?.worker_id ?? null, notice: s.notice?.message ?? null, messages }));
}, 200);
