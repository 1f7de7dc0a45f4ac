// A minimal DOM for frontend/play.js, to drive the web player against a real gateway from node (tests/test_web_player.py).
// Prints what the page shows every 0.2 s as a JSON line.
const [host, token, playjs] = process.argv.slice(2);
const elements = {};
function el(id) {
  return (elements[id] ??= {
    id, value: "", textContent: "", hidden: false, options: [{ value: 60 }], listeners: {}, width: 0, height: 0,
    addEventListener(t, f) { (this.listeners[t] ??= []).push(f); },
    replaceChildren() {}, append() {}, prepend() {}, contains() { return false; }, blur() {},
    getContext() { return { drawImage() {} }; },
  });
}
const documentListeners = {};
globalThis.document = { getElementById: el, createElement: () => el("x" + Math.random()), querySelectorAll: () => [],
  addEventListener(t, f) { (documentListeners[t] ??= []).push(f); } };
globalThis.window = { addEventListener() {} };
globalThis.navigator = {};
globalThis.location = { search: "", protocol: "http:", host };
globalThis.sessionStorage = { m: {}, getItem(k) { return this.m[k] ?? null; }, setItem(k, v) { this.m[k] = v; },
  removeItem(k) { delete this.m[k]; } };
globalThis.fetch = async () => ({ ok: false, json: async () => ({ detail: "" }) });
globalThis.createImageBitmap = async () => ({ width: 1, height: 1 });
globalThis.Option = class { constructor(t, v) { this.text = t; this.value = v; } };
// Node 20's WebSocket fires no close after a failed handshake (browsers fire close 1006): do as a browser does.
const Native = globalThis.WebSocket;
globalThis.WebSocket = class extends Native {
  constructor(...args) {
    super(...args);
    let closed = false;
    this.addEventListener("close", () => (closed = true));
    this.addEventListener("error", () => setTimeout(() => {
      if (!closed && this.onclose) { closed = true; this.onclose({ code: 1006 }); }
    }, 50));
  }
};
el("token").value = token;
el("env").value = "live";
await import(playjs);
el("join").listeners.submit[0]({ preventDefault() {} });
// Once playing, hold a key as a participant would: the episode runs.
const press = setInterval(() => {
  if (!el("status").textContent.startsWith("playing")) return;
  clearInterval(press);
  for (const f of documentListeners.keydown) f({ key: "ArrowRight", target: {}, preventDefault() {} });
}, 100);
setInterval(() => console.log(JSON.stringify({ status: el("status").textContent, state: el("state").textContent,
  step: el("step").textContent, session: sessionStorage.m["playcorder-session"] ?? null })), 200);
