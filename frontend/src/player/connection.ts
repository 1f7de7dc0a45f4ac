// The play WebSocket client of docs/protocol.md, free of any UI framework (the React view and the node test
// harness, tests/webplayer_harness.mjs, both drive it): connects with the participant token as a subprotocol,
// resumes its session after a dropped connection, retries when no worker has room, turns keys, touch, gamepads and
// 6-DOF controllers into `input` messages, and measures frames per second and the round-trip time.
//
// Round trip: the protocol has no ping; `resync` ("send the session's state again") is its one message with an
// answer and no effect on the episode, so at the session's first `state` and then every RTT_INTERVAL_MS the client
// sends one and times the `state` that answers it (gateway -> NATS -> worker -> back, the path every input takes).
import type { InputMap } from "../api";

export const HEADER_BYTES = 16; // binary frame header, then JPEG (shared/playcorder/frames.py)
const SIXDOF = /3dconnexion|spacemouse|space ?navigator|space ?pilot/i; // such pads report x, y, z, rx, ry, rz
const BACKOFF_FIRST_MS = 250;
const BACKOFF_CAP_MS = 2000;
const SLOW_RETRY_MS = 5000; // after RETRY_FAST_FOR_MS without a session: keep trying, less often
const RETRY_FAST_FOR_MS = 60000;
// A gateway restarting closes with 1012 (docs/protocol.md "Gateway restarts"): reconnect after a random wait below
// this (so that its players do not all come back in the same instant) and resume; once in a row, then the backoff.
const CLOSE_RESTART = 1012;
const CLOSE_TAKEN_OVER = 4409; // a newer socket of the same campaign participant took over
const RESTART_JITTER_MS = 750;
const RTT_INTERVAL_MS = 2000;
const RTT_GIVE_UP_MS = 10000;
const METER_MS = 500;
const POLL_MS = 50; // gamepads have no events for axis moves: poll them
const LOG_MAX = 50;
const GONE = ["session_gone", "unknown_session"];
const FATAL = ["env_failed", "session_failed", "unauthorized", "study_disabled", "environment_disabled", "unknown_env"];
const STORAGE_KEY = "playcorder-session";

// ---------------------------------------------------------------- what the server sends

export type SessionStateName = "paused" | "running" | "awaiting_save" | "idle";

export interface SessionEvent {
  type: "session";
  session_id: string;
  worker_id: string;
  env: string;
  env_id: string;
  family: string;
  mode: "realtime" | "turn_based";
  step_while_held: boolean;
  fps: number;
  instructions: string;
  action_space: Record<string, unknown>;
  observation_space: Record<string, unknown>;
  input_map: InputMap;
  touch_controls: string[];
  cameras: string[];
  jpeg_quality: number;
  game_id?: string | null;
  agent?: string | null;
}

/** A multi-agent game's seats as the participant sees them: you, human, waiting or ai. */
export type Seats = Record<string, string>;

export interface LobbyEvent {
  type: "lobby";
  game_id: string;
  agent: string;
  seats: Seats;
  seconds_left: number;
}

export interface StateEvent {
  type: "state";
  state: SessionStateName;
  reason: string | null;
  fps: number;
  jpeg_quality: number;
  camera: string | null;
}

export interface EpisodeFinished {
  type: "episode_finished";
  episode_id: string;
  reason: string;
  num_steps: number;
  total_reward: number;
}

export interface EpisodeEnded {
  type: "episode_ended";
  episode_id: string;
  state: string;
  reason: string;
  num_steps: number;
  total_reward: number;
}

/** The session's game server is shutting down: the episode continues until `deadline` (s since the epoch) at most,
 * then the participant plays on, on another server, with a new episode (a new `session` event, same socket). */
export interface NoticeEvent {
  type: "notice";
  kind: "maintenance";
  message: string;
  deadline: number;
}

export interface ErrorEvent {
  type: "error";
  code: string;
  message: string;
  retry_after?: number | null;
}

type ServerEvent =
  | SessionEvent
  | StateEvent
  | EpisodeFinished
  | EpisodeEnded
  | ErrorEvent
  | NoticeEvent
  | { type: "episode_started"; episode_id: string; index: number }
  | { type: "session_ended"; reason: string }
  | { type: "stats"; episode_id: string; values: Record<string, number> }
  | LobbyEvent
  | { type: "countdown"; game_id: string; seconds: number; seats: Seats }
  | { type: "control"; agent: string; controller: string; reason: string; step: number };

/** "first_0 (you), second_0 (waiting)": the seats of a game, for the status line. */
export function seatsText(seats: Seats): string {
  return Object.entries(seats).map(([agent, who]) => `${agent} (${who})`).join(", ");
}

export interface Frame {
  step: number;
  reward: number;
  episodeReturn: number;
  isFirst: boolean;
  isLast: boolean;
  isTerminal: boolean;
  jpeg: ArrayBuffer;
}

/** A display frame (the 16-byte header of docs/protocol.md, then the JPEG); null when it is not one. */
/** Frames shown in the last second: `add` one as it arrives, `count` again when none comes. */
export class FrameRate {
  private times: number[] = [];

  add(now = Date.now()): number {
    this.times.push(now);
    return this.count(now);
  }

  count(now = Date.now()): number {
    while (this.times.length && this.times[0] < now - 1000) this.times.shift();
    return this.times.length;
  }
}

export function parseFrame(buffer: ArrayBuffer): Frame | null {
  if (buffer.byteLength < HEADER_BYTES) return null;
  const view = new DataView(buffer);
  if (view.getUint8(0) !== 0x50 || view.getUint8(1) !== 0x46) return null; // "PF"
  const flags = view.getUint8(3);
  return {
    step: view.getUint32(4, true),
    reward: view.getFloat32(8, true),
    episodeReturn: view.getFloat32(12, true),
    isFirst: (flags & 1) !== 0,
    isLast: (flags & 2) !== 0,
    isTerminal: (flags & 4) !== 0,
    jpeg: buffer.slice(HEADER_BYTES),
  };
}

// ---------------------------------------------------------------- what the client shows

/** The connection as a participant should understand it. */
export type Phase =
  | "idle" // not started
  | "connecting"
  | "playing" // a session is open
  | "reconnecting" // the connection dropped (or the gateway lost its servers): trying again
  | "no_capacity" // no worker has room: trying again after retry_after
  | "ended" // the session is over (expired, closed)
  | "refused"; // the server refused for good (bad token, disabled study, env failed)

export interface LogEntry {
  at: number;
  text: string;
}

export interface Snapshot {
  phase: Phase;
  /** a sentence about the connection ("Reconnecting… (attempt 3)") */
  message: string;
  /** when the next connection attempt is due (ms since epoch), while reconnecting or waiting for room */
  retryAt: number | null;
  session: SessionEvent | null;
  state: StateEvent | null;
  episodeIndex: number | null;
  /** the finished episode waiting for keep / discard */
  finished: EpisodeFinished | null;
  lastEnded: EpisodeEnded | null;
  /** the running episode's statistics (score, steps, active_minutes, ...), about once a second */
  stats: Record<string, number> | null;
  /** the session's maintenance notice, until the next `session` event */
  notice: NoticeEvent | null;
  step: number;
  reward: number;
  episodeReturn: number;
  /** display frames received in the last second */
  framesPerSecond: number;
  /** round trip of the last resync -> state, smoothed; null until measured */
  rttMs: number | null;
  log: LogEntry[];
}

/** Human-readable state for the participant ("Paused — press a key to play"). */
export function describeState(snapshot: Snapshot): string {
  const { phase, state, session } = snapshot;
  if (phase !== "playing" || !state) return snapshot.message;
  switch (state.state) {
    case "running":
      return session?.mode === "turn_based" ? "Playing — your move" : "Playing";
    case "paused":
      if (state.reason === "client_lost") return "Paused — the connection was back; press a key to continue";
      if (state.reason === "idle") return "Paused (no input for a while) — press a key to continue";
      if (state.reason === "start") return "Ready — press a key to start";
      return "Paused — press a key to continue";
    case "awaiting_save":
      return "Episode over — keep it? (y / n)";
    case "idle":
      return isPageKey(session, "Enter") ? "Episode saved — press Enter for a new one"
        : "Episode saved — New episode starts another"; // Enter is the game's (NetHack's --More--)
  }
  return state.state;
}

export interface PadState {
  buttons: number[];
  axes: number[];
  sixdof: number[];
}

interface GamepadLike {
  id: string;
  axes: readonly number[];
  buttons: readonly { value: number }[];
}

/** Gamepads and 6-DOF controllers as the input message carries them (the first of each kind). */
export function readPads(pads: readonly (GamepadLike | null)[]): PadState {
  const state: PadState = { buttons: [], axes: [], sixdof: [] };
  for (const pad of pads) {
    if (!pad) continue;
    const axes = pad.axes.map((a) => Math.max(-1, Math.min(1, Math.round(a * 100) / 100)));
    if (SIXDOF.test(pad.id) && axes.length >= 6 && state.sixdof.length === 0) state.sixdof = axes.slice(0, 6);
    else if (state.axes.length === 0 && state.buttons.length === 0) {
      state.axes = axes.slice(0, 64);
      state.buttons = pad.buttons.slice(0, 64).map((b) => Math.max(0, Math.min(1, b.value)));
    }
  }
  return state;
}

export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface ConnectionOptions {
  /** ws:// or wss:// URL of /ws/play */
  url: string;
  token: string;
  /** where the session id survives a reload of the tab (sessionStorage) */
  storage?: KeyValueStore;
  /** reads gamepads every POLL_MS (navigator.getGamepads) */
  pads?: () => readonly (GamepadLike | null)[];
  WebSocket?: typeof WebSocket;
}

type Listener = (snapshot: Snapshot) => void;
type FrameListener = (frame: Frame) => void;

export function playUrl(loc: { protocol: string; host: string }): string {
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}/ws/play`;
}

// ---------------------------------------------------------------- the connection

export class PlayConnection {
  private ws: WebSocket | null = null;
  private readonly Socket: typeof WebSocket;
  private sessionId: string | null;
  private env = "";
  private leaving = false; // the session is over (or refused): do not reconnect
  private lostAt: number | null = null;
  private backoff = BACKOFF_FIRST_MS;
  private restarted = false; // closed with CLOSE_RESTART since the last session: the next close gets the backoff
  private retryAfterS: number | null = null; // from no_capacity
  private attempts = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  private rttTimer: ReturnType<typeof setInterval> | null = null;
  private meterTimer: ReturnType<typeof setInterval> | null = null;
  private pingSentAt: number | null = null;
  private frameRate = new FrameRate();
  private readonly held = new Set<string>();
  private readonly downCodes = new Map<string, string>(); // KeyboardEvent.code -> the name it went down as
  private readonly touched = new Set<string>();
  private lastInput = "";
  private listeners = new Set<Listener>();
  private frameListeners = new Set<FrameListener>();
  private snap: Snapshot = {
    phase: "idle", message: "Not connected", retryAt: null, session: null, state: null, episodeIndex: null,
    finished: null, lastEnded: null, stats: null, notice: null, step: 0, reward: 0, episodeReturn: 0, framesPerSecond: 0, rttMs: null, log: [],
  };

  constructor(private readonly options: ConnectionOptions) {
    this.Socket = options.WebSocket ?? globalThis.WebSocket;
    this.sessionId = options.storage?.getItem(STORAGE_KEY) ?? null;
  }

  get snapshot(): Snapshot {
    return this.snap;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    listener(this.snap);
    return () => this.listeners.delete(listener);
  }

  onFrame(listener: FrameListener): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  /** Play `env`: resumes the session this tab had (a reload) when its worker still holds it, else a new one. */
  start(env: string): void {
    this.env = env;
    if (this.ws) {
      // a deliberate switch: code 1000 ends the old session at once, no reconnect
      this.ws.onclose = null;
      this.ws.close(1000);
      this.ws = null;
      this.remember(null);
    }
    this.leaving = false;
    this.lostAt = null;
    this.backoff = BACKOFF_FIRST_MS;
    this.attempts = 0;
    this.timers(true);
    this.connect();
  }

  /** End the session (its unfinished episode is abandoned) and stop. */
  close(): void {
    this.leaving = true;
    this.send({ type: "close" });
    this.ws?.close(1000);
    this.ws = null;
    this.remember(null);
    this.dispose();
    this.update({ phase: "ended", message: "Session closed", retryAt: null });
  }

  /** Stop timers and the socket without ending the session (the page goes away: it may be resumed). */
  dispose(): void {
    this.timers(false);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    // not 1000: the worker keeps the session for its grace (a reload resumes it)
    if (this.ws) closeQuietly(this.ws, 4000);
    this.ws = null;
  }

  /** Skip the wait and try to connect now (the "Retry now" button). */
  retryNow(): void {
    if (this.snap.phase !== "reconnecting" && this.snap.phase !== "no_capacity") return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  // ------------------------------------------------------------ controls

  /** Pause a running episode, resume a paused one (between episodes, or awaiting an answer, there is none). */
  togglePause(): void {
    const state = this.snap.state?.state;
    if (state === "running") this.send({ type: "pause" });
    else if (state === "paused" || state === undefined) this.send({ type: "resume" });
  }

  newEpisode(): void {
    this.send({ type: "new_episode" });
  }

  cancel(): void {
    this.send({ type: "cancel" });
  }

  save(keep: boolean): void {
    this.send({ type: "save", save: keep });
  }

  setFps(fps: number): void {
    this.send({ type: "set_fps", fps: Math.max(1, Math.min(60, Math.round(fps))) });
  }

  setQuality(quality: number): void {
    this.send({ type: "set_quality", jpeg_quality: Math.max(1, Math.min(100, Math.round(quality))) });
  }

  setCamera(camera: string): void {
    this.send({ type: "set_camera", camera });
  }

  /** A key went down: the shortcuts (y/n, Enter, Escape, 1-9 cameras) or a held key. True when it was used.
   * `code` (KeyboardEvent.code) lets keyUp release the name that went down: with Shift, '.' goes down as '>' but
   * comes up as '.' when Shift is let go first. */
  keyDown(key: string, code = ""): boolean {
    if (!this.snap.session) return false;
    const name = keyName(key);
    if (this.snap.finished && (name === "y" || name === "n")) this.save(name === "y");
    else if (key === "Enter" && this.pageKey("Enter")) this.newEpisode();
    else if (key === "Escape" && this.pageKey("Escape")) this.togglePause();
    else if (!this.cameraKey(name)) {
      if (code) this.downCodes.set(code, name);
      this.held.add(name);
      this.sendInput();
    }
    return true;
  }

  keyUp(key: string, code = ""): void {
    const down = code ? this.downCodes.get(code) : undefined;
    if (down !== undefined) {
      this.downCodes.delete(code);
      this.held.delete(down);
    }
    this.held.delete(keyName(key));
    this.sendInput();
  }

  /** Whether Enter (new episode) or Escape (pause) is the page's shortcut in this session (isPageKey). */
  pageKey(key: "Enter" | "Escape"): boolean {
    return isPageKey(this.snap.session, key);
  }

  /** An on-screen control (named like a key) pressed or released. */
  touch(name: string, down: boolean): void {
    if (down) this.touched.add(name);
    else this.touched.delete(name);
    this.sendInput();
  }

  /** The window lost focus: keys released meanwhile send no keyup, so release everything. */
  releaseAll(): void {
    this.held.clear();
    this.downCodes.clear();
    this.touched.clear();
    this.sendInput();
  }

  get heldKeys(): string[] {
    return [...this.held, ...this.touched];
  }

  // ------------------------------------------------------------ internals

  private connect(): void {
    this.retryTimer = null;
    this.attempts += 1;
    if (this.snap.phase === "idle") this.update({ phase: "connecting", message: "Connecting…", retryAt: null });
    const ws = new this.Socket(this.options.url, ["playcorder", `token.${this.options.token}`]);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      // A session paused while we were away resumes on the participant's next key, not on keys held before.
      this.held.clear();
      this.downCodes.clear();
      this.touched.clear();
      this.lastInput = "";
      this.pingSentAt = null;
      this.send(this.sessionId ? { type: "resume_session", session_id: this.sessionId }
        : { type: "select_env", env: this.env });
    };
    ws.onmessage = (m: MessageEvent) => {
      if (typeof m.data === "string") {
        let event: ServerEvent;
        try {
          event = JSON.parse(m.data) as ServerEvent;
        } catch {
          return;
        }
        this.onEvent(event);
      } else if (m.data instanceof ArrayBuffer) this.onBinary(m.data);
    };
    ws.onclose = (m: CloseEvent) => {
      if (this.ws === ws) this.ws = null;
      this.reconnect(m.code);
    };
  }

  private reconnect(code: number): void {
    if (this.leaving || code === 4401 || code === CLOSE_TAKEN_OVER) {
      if (this.snap.phase !== "refused" && this.snap.phase !== "ended") {
        this.update({ phase: code === 4401 ? "refused" : "ended",
          message: code === 4401 ? "This link is not valid (any more): ask for a new one"
            : code === CLOSE_TAKEN_OVER ? "You opened this game in another tab or device: play goes on there"
            : "Session ended" });
      }
      this.timers(false);
      return;
    }
    const now = Date.now();
    if (code === 1013 || this.retryAfterS !== null) {
      // no worker has room: wait as the server asked (a fresh session after that)
      const wait = Math.max(1, this.retryAfterS ?? 5) * 1000;
      this.retryAfterS = null;
      this.schedule(wait, "no_capacity",
        `All game servers are busy — retrying in ${Math.round(wait / 1000)} s`);
      return;
    }
    if (code === CLOSE_RESTART && !this.restarted) {
      this.restarted = true;
      this.schedule(Math.random() * RESTART_JITTER_MS, "reconnecting", "Server restarting — reconnecting…");
      return;
    }
    this.lostAt = this.lostAt ?? now;
    const slow = now - this.lostAt > RETRY_FAST_FOR_MS;
    const wait = slow ? SLOW_RETRY_MS : this.backoff;
    this.backoff = Math.min(this.backoff * 2, BACKOFF_CAP_MS);
    this.schedule(wait, "reconnecting", slow
      ? `Cannot reach the server — still trying every ${SLOW_RETRY_MS / 1000} s`
      : "Connection lost — reconnecting…");
  }

  private schedule(wait: number, phase: Phase, message: string): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), wait);
    this.update({ phase, message, retryAt: Date.now() + wait });
  }

  private onBinary(buffer: ArrayBuffer): void {
    const frame = parseFrame(buffer);
    if (!frame) return;
    this.update({ step: frame.step, reward: frame.reward, episodeReturn: frame.episodeReturn,
      framesPerSecond: this.frameRate.add() });
    for (const listener of this.frameListeners) listener(frame);
  }

  private onEvent(event: ServerEvent): void {
    switch (event.type) {
      case "session":
        this.remember(event.session_id);
        this.lostAt = null;
        this.backoff = BACKOFF_FIRST_MS;
        this.restarted = false;
        this.attempts = 0;
        this.update({ phase: "playing", message: `Playing ${event.env_id}`, retryAt: null, session: event,
          notice: null });
        break;
      case "state":
        if (this.pingSentAt !== null) {
          const rtt = Date.now() - this.pingSentAt;
          this.pingSentAt = null;
          const rttMs = this.snap.rttMs === null ? rtt : Math.round(0.7 * this.snap.rttMs + 0.3 * rtt);
          this.update({ rttMs });
        } else if (this.snap.rttMs === null) {
          // the session's first state (its episode is ready): measure now, not a whole interval later
          this.ping();
        }
        this.update({
          state: event, finished: event.state === "awaiting_save" ? this.snap.finished : null,
          // the gateway is back after connection_lost: the session goes on
          ...(this.snap.session && this.snap.phase === "reconnecting" && this.ws
            ? { phase: "playing" as Phase, message: `Playing ${this.snap.session.env_id}`, retryAt: null } : {}),
        });
        break;
      case "episode_started":
        if (this.snap.episodeIndex !== event.index) this.log(`Episode ${event.index} started`);
        this.update({ episodeIndex: event.index, finished: null,
          ...(this.snap.session?.agent ? { message: `Playing ${this.snap.session.env_id} as ` +
            `${this.snap.session.agent}` } : {}) });
        break;
      case "episode_finished":
        if (this.snap.finished?.episode_id !== event.episode_id) {
          this.log(`Episode finished (${event.reason}) after ${event.num_steps} steps, return ` +
            `${fmt(event.total_reward)}: keep it?`);
        }
        this.update({ finished: event });
        break;
      case "episode_ended":
        this.log(`Episode ${event.state === "completed" ? "kept" : event.state} (${event.reason}): ` +
          `${event.num_steps} steps, return ${fmt(event.total_reward)}`);
        this.update({ lastEnded: event, finished: null });
        break;
      case "session_ended":
        this.log(`Session ended: ${event.reason}`);
        this.leaving = true;
        this.remember(null);
        this.update({ phase: "ended", retryAt: null, message: event.reason === "expired"
          ? "Session ended after a long pause — reload the page to play again"
          : `Session ended (${event.reason}) — reload the page to play again` });
        break;
      case "stats":
        this.update({ stats: event.values });
        break;
      case "lobby":
        this.update({ message: `Waiting for partners: ${seatsText(event.seats)}. Empty seats are played by the ` +
          `AI in ${Math.ceil(event.seconds_left)} s` });
        break;
      case "countdown":
        this.log(`Game starting: ${seatsText(event.seats)}`);
        this.update({ message: `The game starts in ${event.seconds} s — ${seatsText(event.seats)}` });
        break;
      case "control":
        this.log(`${event.agent} is now played by ${event.controller === "ai" ? "the AI" : event.controller} ` +
          `(${event.reason})`);
        break;
      case "notice":
        if (this.snap.notice?.deadline !== event.deadline) this.log(event.message);
        this.update({ notice: event });
        break;
      case "error":
        this.onError(event);
        break;
    }
  }

  private onError(event: ErrorEvent): void {
    this.log(`${event.message} (${event.code})`);
    if (GONE.includes(event.code)) {
      this.remember(null); // its worker no longer holds it: a new session, a new episode
      this.send({ type: "select_env", env: this.snap.session?.env ?? this.env });
    } else if (event.code === "worker_lost") {
      this.remember(null); // the gateway closes the socket: reconnect with a new session
      this.update({ phase: "reconnecting", message: "The game server stopped — starting a new session…" });
    } else if (event.code === "connection_lost") {
      this.update({ phase: "reconnecting", message: "The server lost its connection — reconnecting…",
        retryAt: event.retry_after ? Date.now() + event.retry_after * 1000 : null });
    } else if (event.code === "no_capacity") {
      this.retryAfterS = event.retry_after ?? 5;
    } else if (FATAL.includes(event.code)) {
      this.leaving = true;
      this.remember(null);
      this.update({ phase: "refused", message: event.message, retryAt: null });
    }
  }

  private send(message: Record<string, unknown>): void {
    if (this.ws && this.ws.readyState === this.Socket.OPEN) this.ws.send(JSON.stringify(message));
  }

  private sendInput(): void {
    if (!this.snap.session) return;
    const pads = this.options.pads ? readPads(this.options.pads()) : { buttons: [], axes: [], sixdof: [] };
    const state = { type: "input", keys: [...this.held].slice(0, 32), touch: [...this.touched].slice(0, 32), ...pads };
    const text = JSON.stringify(state);
    if (text !== this.lastInput && this.ws && this.ws.readyState === this.Socket.OPEN) {
      this.lastInput = text;
      this.ws.send(text);
    }
  }

  private ping(): void {
    if (!this.snap.session || !this.ws || this.ws.readyState !== this.Socket.OPEN) return;
    const now = Date.now();
    if (this.pingSentAt !== null && now - this.pingSentAt < RTT_GIVE_UP_MS) return;
    this.pingSentAt = now;
    this.send({ type: "resync" });
  }

  private cameraKey(key: string): boolean {
    // Keys 1-9 switch cameras, as in RLDS Creator, unless the environment binds the digit to an action.
    const session = this.snap.session;
    if (!session || session.cameras.length === 0 || !/^[1-9]$/.test(key)) return false;
    const bound = JSON.stringify(session.input_map).includes(`"${key}"`);
    const camera = session.cameras[Number(key) - 1];
    if (bound || camera === undefined) return false;
    this.setCamera(camera);
    return true;
  }

  private timers(on: boolean): void {
    for (const timer of [this.pollTimer, this.rttTimer, this.meterTimer]) if (timer) clearInterval(timer);
    this.pollTimer = this.rttTimer = this.meterTimer = null;
    if (!on) return;
    if (this.options.pads) this.pollTimer = setInterval(() => this.sendInput(), POLL_MS);
    this.rttTimer = setInterval(() => this.ping(), RTT_INTERVAL_MS);
    this.meterTimer = setInterval(() => this.countFrames(), METER_MS);
  }

  /** Frames of the last second, recounted when no frame comes (paused, or the connection is gone). */
  private countFrames(): void {
    const framesPerSecond = this.frameRate.count();
    if (framesPerSecond !== this.snap.framesPerSecond) this.update({ framesPerSecond });
  }

  private remember(id: string | null): void {
    this.sessionId = id;
    if (id) this.options.storage?.setItem(STORAGE_KEY, id);
    else this.options.storage?.removeItem(STORAGE_KEY);
  }

  private log(text: string): void {
    this.update({ log: [{ at: Date.now(), text }, ...this.snap.log].slice(0, LOG_MAX) });
  }

  private update(patch: Partial<Snapshot>): void {
    this.snap = { ...this.snap, ...patch };
    for (const listener of this.listeners) listener(this.snap);
  }
}

/** Close a socket without events; one still connecting is closed once open (closing it earlier makes the browser
 * warn "closed before the connection is established", as React's StrictMode remounts would). */
export function closeQuietly(ws: WebSocket, code: number): void {
  ws.onmessage = null;
  ws.onclose = null;
  if (ws.readyState === 0) {
    ws.onopen = () => ws.close(code);
    ws.onerror = null;
  } else ws.close(code);
}

/** Whether Enter (new episode) or Escape (pause) is the page's shortcut in a session: not when the environment's
 * input map binds it (NetHack: Enter for --More--, Escape to cancel a prompt). */
export function isPageKey(session: SessionEvent | null, key: "Enter" | "Escape"): boolean {
  const map = session?.input_map as { bindings?: Record<string, number>; keys?: { key: string }[];
    toggles?: { key: string }[] } | undefined;
  if (!map) return true;
  const combos = [...Object.keys(map.bindings ?? {}), ...(map.keys ?? []).map((k) => k.key),
    ...(map.toggles ?? []).map((t) => t.key)];
  return !combos.some((combo) => combo.split("+").includes(key));
}

/** Letters in one case, so that a key pressed with Shift and released without it is released. */
function keyName(key: string): string {
  return key.length === 1 ? key.toLowerCase() : key;
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}
