// Two clips played as one: a labeller compares them moment by moment, so they start together (once both can play
// through, so that neither starts late), a clip that stalls pauses the other until it can go on, Replay restarts
// both from 0, and with loop on both start again once both have ended (a shorter clip waits on its last frame).
// `startedAt` is the moment both first played: the answer's shown_at, and the gate for answering at all.

export type SyncState = "loading" | "playing" | "buffering" | "ended" | "paused" | "failed";

export interface SyncSnapshot {
  state: SyncState;
  /** When both clips first played together (null until then). */
  startedAt: Date | null;
  /** Which clip failed to load and why ("left: ..."), when state is failed. */
  error: string | null;
}

const SIDES = ["left", "right"] as const;
const EVENTS = ["canplay", "canplaythrough", "loadeddata", "waiting", "stalled", "playing", "ended", "pause"];

export class ClipSync {
  private snapshot: SyncSnapshot = { state: "loading", startedAt: null, error: null };
  private listeners = new Set<(s: SyncSnapshot) => void>();
  private started = false; // both have been told to start together once
  private wanted = true; // the labeller wants them playing (false after the end without loop, or refused autoplay)
  private played: [boolean, boolean] = [false, false]; // each has fired "playing" since the start
  private disposed = false;
  private readonly onEvent = () => this.reconcile();
  private readonly onError = (event: Event) => {
    // Sources are tried in order: the last one failing means none could be played. The mark outlives this
    // instance, for one made after it (React's StrictMode makes effects twice).
    const t = event.target;
    if (t instanceof HTMLSourceElement && t.parentElement instanceof HTMLVideoElement &&
      t === t.parentElement.querySelector("source:last-of-type")) t.parentElement.dataset.noSource = "1";
    this.checkFailed();
  };
  private readonly onPlaying = (event: Event) => {
    const i = this.videos.indexOf(event.currentTarget as HTMLVideoElement);
    if (this.started && i >= 0) this.played[i] = true;
    if (this.started && this.played[0] && this.played[1] && !this.snapshot.startedAt) {
      this.set({ startedAt: new Date() });
    }
    this.reconcile();
  };

  constructor(private readonly videos: [HTMLVideoElement, HTMLVideoElement], private loop: boolean) {
    for (const v of videos) {
      for (const name of EVENTS) if (name !== "playing") v.addEventListener(name, this.onEvent);
      v.addEventListener("playing", this.onPlaying);
      v.addEventListener("error", this.onError, true); // capture: a <source>'s error does not bubble
    }
    this.checkFailed();
    this.reconcile();
  }

  get current(): SyncSnapshot {
    return this.snapshot;
  }

  subscribe(listener: (s: SyncSnapshot) => void): () => void {
    this.listeners.add(listener);
    listener(this.snapshot);
    return () => this.listeners.delete(listener);
  }

  setLoop(loop: boolean): void {
    this.loop = loop;
    if (loop && this.snapshot.state === "ended") this.replay();
  }

  /** Both from 0, together (before the first start there is nothing to restart: they start once ready). */
  replay(): void {
    if (this.disposed || this.snapshot.state === "failed") return;
    this.wanted = true;
    if (!this.started) return this.reconcile();
    for (const v of this.videos) v.currentTime = 0;
    this.playBoth(true);
  }

  dispose(): void {
    this.disposed = true;
    this.listeners.clear();
    for (const v of this.videos) {
      for (const name of EVENTS) if (name !== "playing") v.removeEventListener(name, this.onEvent);
      v.removeEventListener("playing", this.onPlaying);
      v.removeEventListener("error", this.onError, true);
      v.pause();
    }
  }

  private set(change: Partial<SyncSnapshot>): void {
    const next = { ...this.snapshot, ...change };
    if (next.state === this.snapshot.state && next.startedAt === this.snapshot.startedAt &&
      next.error === this.snapshot.error) return;
    this.snapshot = next;
    for (const listener of this.listeners) listener(next);
  }

  private checkFailed(): void {
    if (this.disposed || this.snapshot.state === "failed") return;
    const failed = this.videos.findIndex((v) => v.error !== null || v.dataset.noSource === "1");
    if (failed < 0) return;
    const v = this.videos[failed];
    const why = v.error ? `${v.error.message || "the browser could not decode it"} (code ${v.error.code})`
      : "neither its WebM nor its MP4 could be loaded";
    for (const other of this.videos) other.pause();
    this.set({ state: "failed", error: `${SIDES[failed]} clip: ${why}` });
  }

  /** Play what is paused; a clip that has ended stays on its last frame unless `restart` (then from 0). */
  private playBoth(restart = false): void {
    for (const v of this.videos) {
      if (!v.paused || (v.ended && !restart)) continue;
      v.play().catch((e: Error) => {
        if (this.disposed || e.name === "AbortError") return; // paused again before it started: not a failure
        this.wanted = false; // autoplay refused: the labeller starts them (Replay)
        for (const other of this.videos) other.pause();
        this.set({ state: "paused" });
      });
    }
  }

  /** Make what plays match what should play; called on every media event. */
  private reconcile(): void {
    if (this.disposed || this.snapshot.state === "failed") return;
    const [a, b] = this.videos;
    if (!this.started) {
      if (a.readyState < HTMLMediaElement.HAVE_ENOUGH_DATA || b.readyState < HTMLMediaElement.HAVE_ENOUGH_DATA) {
        return this.set({ state: "loading" });
      }
      if (!this.wanted) return this.set({ state: "paused" });
      this.started = true;
      a.currentTime = 0;
      b.currentTime = 0;
      this.playBoth(true);
      return this.set({ state: this.running() });
    }
    if (a.ended && b.ended) {
      if (this.loop && this.wanted) {
        this.replay();
        return this.set({ state: this.running() });
      }
      this.wanted = false;
      return this.set({ state: "ended" });
    }
    if (!this.wanted) {
      for (const v of this.videos) if (!v.paused) v.pause();
      return this.set({ state: a.ended || b.ended ? "ended" : "paused" });
    }
    const starved = this.videos.some((v) => !v.ended && v.readyState < HTMLMediaElement.HAVE_FUTURE_DATA);
    if (starved) {
      // one waits for data: hold the other where it is, so they stay in step
      for (const v of this.videos) if (v.readyState >= HTMLMediaElement.HAVE_FUTURE_DATA && !v.paused) v.pause();
      return this.set({ state: "buffering" });
    }
    this.playBoth();
    this.set({ state: this.running() });
  }

  /** "playing" once both have played: until then (play() asked, no frame shown yet) still "loading". */
  private running(): SyncState {
    return this.snapshot.startedAt ? "playing" : "loading";
  }
}
