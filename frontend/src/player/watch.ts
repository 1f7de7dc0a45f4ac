// The live view's client of /ws/watch/{session_id} (contracts section 4), free of any UI framework: read-only, it
// receives the session's frames (the play protocol's binary frames), its events, and each message the participant
// sent as {"type": "watched_input", "message": {...}}; it reconnects after a dropped connection and stops for good
// when the session is unknown, ended or not the designer's.
import { closeQuietly, FrameRate, parseFrame, type EpisodeEnded, type EpisodeFinished, type Frame, type SessionEvent,
  type StateEvent } from "./connection";

const BACKOFF_FIRST_MS = 500;
const BACKOFF_CAP_MS = 5000;
const INPUTS_KEPT = 200;
const FINAL_CLOSES = [4401, 4403, 4404];

export interface Watching {
  type: "watching";
  session_id: string;
  study_id: string;
  participant_id: string;
  env: string;
  env_id: string | null;
  worker_id: string;
  started_at: string;
}

export interface WatchedInput {
  at: number;
  message: Record<string, unknown> & { type: string };
}

export type WatchPhase = "connecting" | "watching" | "reconnecting" | "ended" | "refused";

export interface WatchSnapshot {
  phase: WatchPhase;
  message: string;
  watching: Watching | null;
  session: SessionEvent | null;
  state: StateEvent | null;
  finished: EpisodeFinished | null;
  lastEnded: EpisodeEnded | null;
  episodeIndex: number | null;
  step: number;
  episodeReturn: number;
  framesPerSecond: number;
  /** the participant's latest input state (keys, touch, gamepad) */
  held: { keys: string[]; touch: string[]; buttons: number[]; axes: number[]; sixdof: number[] };
  /** the participant's messages, newest first */
  inputs: WatchedInput[];
  events: { at: number; text: string }[];
}

export function watchUrl(loc: { protocol: string; host: string }, sessionId: string): string {
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}/ws/watch/${encodeURIComponent(sessionId)}`;
}

export class WatchConnection {
  private ws: WebSocket | null = null;
  private stopped = false;
  private backoff = BACKOFF_FIRST_MS;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private frameRate = new FrameRate();
  private listeners = new Set<(s: WatchSnapshot) => void>();
  private frameListeners = new Set<(f: Frame) => void>();
  private snap: WatchSnapshot = {
    phase: "connecting", message: "Connecting…", watching: null, session: null, state: null, finished: null,
    lastEnded: null, episodeIndex: null, step: 0, episodeReturn: 0, framesPerSecond: 0,
    held: { keys: [], touch: [], buttons: [], axes: [], sixdof: [] }, inputs: [], events: [],
  };

  constructor(private readonly url: string, private readonly protocols: string[] = ["playcorder"],
    private readonly Socket: typeof WebSocket = globalThis.WebSocket) {}

  get snapshot(): WatchSnapshot {
    return this.snap;
  }

  subscribe(listener: (s: WatchSnapshot) => void): () => void {
    this.listeners.add(listener);
    listener(this.snap);
    return () => this.listeners.delete(listener);
  }

  onFrame(listener: (f: Frame) => void): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.ws) closeQuietly(this.ws, 1000);
    this.ws = null;
  }

  private connect(): void {
    this.timer = null;
    const ws = new this.Socket(this.url, this.protocols);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onmessage = (m: MessageEvent) => {
      if (typeof m.data === "string") {
        try {
          this.onEvent(JSON.parse(m.data));
        } catch {
          // not JSON: nothing the gateway sends
        }
      } else if (m.data instanceof ArrayBuffer) this.onBinary(m.data);
    };
    ws.onclose = (m: CloseEvent) => {
      if (this.ws === ws) this.ws = null;
      if (this.stopped) return;
      if (FINAL_CLOSES.includes(m.code) || this.snap.phase === "ended" || this.snap.phase === "refused") {
        if (this.snap.phase !== "ended" && this.snap.phase !== "refused") {
          this.update({ phase: "refused", message: m.code === 4401 ? "Sign in again to watch"
            : m.code === 4403 ? "Expected this page to be opened from the gateway's own address"
            : "This session is not running (any more), or not one of your studies'" });
        }
        return;
      }
      this.update({ phase: "reconnecting", message: "Connection lost — reconnecting…" });
      this.timer = setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, BACKOFF_CAP_MS);
    };
  }

  private onBinary(buffer: ArrayBuffer): void {
    const frame = parseFrame(buffer);
    if (!frame) return;
    this.update({ step: frame.step, episodeReturn: frame.episodeReturn, framesPerSecond: this.frameRate.add() });
    for (const l of this.frameListeners) l(frame);
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private onEvent(event: any): void {
    switch (event.type) {
      case "watching":
        this.backoff = BACKOFF_FIRST_MS;
        this.update({ phase: "watching", message: "Watching", watching: event as Watching });
        break;
      case "session":
        this.update({ session: event as SessionEvent });
        break;
      case "state":
        this.update({ state: event as StateEvent, finished: event.state === "awaiting_save" ? this.snap.finished : null });
        break;
      case "episode_started":
        this.event(`Episode ${event.index} started`);
        this.update({ episodeIndex: event.index });
        break;
      case "episode_finished":
        this.event(`Episode finished (${event.reason}) after ${event.num_steps} steps: waiting for keep / discard`);
        this.update({ finished: event as EpisodeFinished });
        break;
      case "episode_ended":
        this.event(`Episode ${event.state} (${event.reason}): ${event.num_steps} steps, return ${event.total_reward}`);
        this.update({ lastEnded: event as EpisodeEnded, finished: null });
        break;
      case "session_ended":
        this.event(`Session ended: ${event.reason}`);
        this.update({ phase: "ended", message: `The session ended (${event.reason})` });
        break;
      case "watched_input":
        this.onInput(event.message);
        break;
      case "error":
        this.event(`${event.message} (${event.code})`);
        if (event.code === "worker_lost") this.update({ message: "The session's worker stopped answering" });
        break;
    }
  }

  private onInput(message: WatchedInput["message"]): void {
    if (!message || typeof message !== "object") return;
    if (message.type === "resync") return; // the player's round-trip probe (connection.ts), not the participant's doing
    const patch: Partial<WatchSnapshot> = {
      inputs: [{ at: Date.now(), message }, ...this.snap.inputs].slice(0, INPUTS_KEPT),
    };
    if (message.type === "input") {
      const list = (v: unknown) => (Array.isArray(v) ? v : []);
      patch.held = { keys: list(message.keys), touch: list(message.touch), buttons: list(message.buttons),
        axes: list(message.axes), sixdof: list(message.sixdof) };
    }
    this.update(patch);
  }

  private event(text: string): void {
    this.update({ events: [{ at: Date.now(), text }, ...this.snap.events].slice(0, 50) });
  }

  private update(patch: Partial<WatchSnapshot>): void {
    this.snap = { ...this.snap, ...patch };
    for (const l of this.listeners) l(this.snap);
  }
}

/** One participant message in a line: "input: Right, Space", "pause", "save: keep". */
export function describeInput(message: WatchedInput["message"]): string {
  switch (message.type) {
    case "input": {
      const keys = [...((message.keys as string[]) ?? []), ...((message.touch as string[]) ?? []).map((t) => `touch ${t}`)];
      const axes = (message.axes as number[]) ?? [];
      const moved = axes.some((a) => Math.abs(a) > 0.1) ? ` · axes ${axes.map((a) => a.toFixed(2)).join(" ")}` : "";
      const pressed = ((message.buttons as number[]) ?? []).map((b, i) => (b > 0.5 ? `B${i}` : "")).filter(Boolean);
      const six = ((message.sixdof as number[]) ?? []).length ? " · 6-DOF" : "";
      return `input: ${keys.length ? keys.join(" + ") : "nothing held"}${pressed.length ? ` · ${pressed.join(" ")}` : ""}${moved}${six}`;
    }
    case "save":
      return `save: ${message.save ? "keep" : "discard"}`;
    case "action":
      return `action: ${JSON.stringify(message.action).slice(0, 80)}`;
    case "set_fps":
      return `speed: ${message.fps} steps/s`;
    case "set_quality":
      return `quality: ${message.jpeg_quality}`;
    case "set_camera":
      return `camera: ${message.camera}`;
    default:
      return message.type.replace(/_/g, " ");
  }
}
