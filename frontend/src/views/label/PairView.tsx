// One leased pair: its two clips side by side (stacked on a phone), played in step by ClipSync, what they are doing
// in words, Replay (R), loop, and the four answers with their keys (ArrowLeft, ArrowRight, =, Space). An answer,
// by key or button, counts only once both clips have started playing: earlier the page says why it waits.
import { Alert, Button, Checkbox, Group, Kbd, Text } from "@mantine/core";
import { useCallback, useEffect, useRef, useState } from "react";

import type { ClipOut, LeasedPair, PreferenceResponse } from "../../api";
import { ClipSync, type SyncSnapshot } from "./clipSync";

export interface Answer {
  response: PreferenceResponse;
  label: string;
  key: string; // the key as KeyboardEvent.key names it
  hint: string; // the key as its button shows it
}

export const ANSWERS: Answer[] = [
  { response: "left", label: "Left", key: "ArrowLeft", hint: "←" },
  { response: "right", label: "Right", key: "ArrowRight", hint: "→" },
  { response: "tie", label: "Equal", key: "=", hint: "=" },
  { response: "cant_tell", label: "Can't tell", key: " ", hint: "Space" },
];

const KEYS: Record<string, string> = { ArrowLeft: "ArrowLeft", ArrowRight: "ArrowRight", "=": "Equal", " ": "Space" };

const STATE_TEXT: Record<SyncSnapshot["state"], string> = {
  loading: "Loading both clips… Answers open once both are playing.",
  playing: "Both clips are playing in step.",
  buffering: "A clip is loading more; the other waits so that they stay in step.",
  ended: "Both clips have ended. Replay (R) to watch them again.",
  paused: "The browser did not start the clips by itself: press Replay (R).",
  failed: "A clip could not be played.",
};

/** Typing into a field is not an answer. */
function isTextEntry(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
}

function Clip({ side, clip, videoRef }: { side: string; clip: ClipOut; videoRef: React.Ref<HTMLVideoElement> }) {
  return (
    <figure className="pc-label-clip">
      <figcaption className="pc-label-caption">{side}</figcaption>
      {/* muted + playsInline: phones play it in the page, without a tap; no controls: both are driven together */}
      <video ref={videoRef} className="pc-label-video" aria-label={`${side} clip`} muted playsInline preload="auto"
        disablePictureInPicture>
        <source src={clip.webm} type="video/webm" />
        <source src={clip.mp4} type="video/mp4" />
      </video>
    </figure>
  );
}

export function PairView({ pair, busy, onAnswer, onSkip }: {
  pair: LeasedPair;
  busy: boolean; // an answer is on its way
  onAnswer: (response: PreferenceResponse, shownAt: Date) => void;
  onSkip: () => void; // a clip failed: give the pair back and take the next
}) {
  const left = useRef<HTMLVideoElement>(null);
  const right = useRef<HTMLVideoElement>(null);
  const sync = useRef<ClipSync | null>(null);
  const [snapshot, setSnapshot] = useState<SyncSnapshot>({ state: "loading", startedAt: null, error: null });
  const [loop, setLoop] = useState(() => localStorage.getItem("playcorder-label-loop") !== "0");
  const [early, setEarly] = useState(false);
  const loopRef = useRef(loop);
  loopRef.current = loop;

  useEffect(() => {
    const s = new ClipSync([left.current!, right.current!], loopRef.current);
    sync.current = s;
    const unsubscribe = s.subscribe(setSnapshot);
    return () => {
      unsubscribe();
      s.dispose();
      sync.current = null;
    };
  }, [pair.id]);

  useEffect(() => {
    sync.current?.setLoop(loop);
    localStorage.setItem("playcorder-label-loop", loop ? "1" : "0");
  }, [loop]);

  const started = snapshot.startedAt !== null;
  useEffect(() => {
    if (started) setEarly(false);
  }, [started]);

  const answer = useCallback((response: PreferenceResponse) => {
    if (busy) return;
    if (!snapshot.startedAt) {
      setEarly(true);
      return;
    }
    onAnswer(response, snapshot.startedAt);
  }, [busy, snapshot.startedAt, onAnswer]);

  // The keys work wherever focus is (but in a text field): Space on a focused button means "can't tell" too, so
  // its own click (on key up) is held back.
  useEffect(() => {
    const down = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey || isTextEntry(e.target)) return;
      if (e.key === "r" || e.key === "R") {
        e.preventDefault();
        if (!e.repeat) sync.current?.replay();
        return;
      }
      const a = ANSWERS.find((x) => x.key === e.key);
      if (!a) return;
      e.preventDefault();
      if (!e.repeat) answer(a.response);
    };
    const up = (e: KeyboardEvent) => {
      if (e.key === " " && !isTextEntry(e.target)) e.preventDefault();
    };
    window.addEventListener("keydown", down);
    window.addEventListener("keyup", up);
    return () => {
      window.removeEventListener("keydown", down);
      window.removeEventListener("keyup", up);
    };
  }, [answer]);

  return (
    <>
      <section className="pc-label-clips" aria-label="The two clips">
        <Clip side="Left" clip={pair.left} videoRef={left} />
        <Clip side="Right" clip={pair.right} videoRef={right} />
      </section>
      <div className="pc-label-controls">
        <Text size="sm" role="status" aria-label="Clips" data-state={snapshot.state} className="pc-label-state">
          {snapshot.state === "failed" ? `${STATE_TEXT.failed} ${snapshot.error ?? ""}` : STATE_TEXT[snapshot.state]}
        </Text>
        <Group gap="sm">
          <Checkbox label="Loop" checked={loop} onChange={(e) => setLoop(e.currentTarget.checked)} />
          <Button variant="default" size="xs" onClick={() => sync.current?.replay()} aria-keyshortcuts="R"
            disabled={snapshot.state === "failed"} rightSection={<Kbd size="xs" aria-hidden>R</Kbd>}>
            Replay
          </Button>
          {snapshot.state === "failed" && (
            <Button size="xs" color="red" variant="light" onClick={onSkip}>Skip this pair</Button>
          )}
        </Group>
      </div>
      {early && (
        <Alert color="yellow" role="alert" title="Not yet" py="xs">
          Watch both clips first: an answer counts once both have started playing.
        </Alert>
      )}
      <div role="group" aria-label="Your answer" className="pc-label-answers">
        {ANSWERS.map((a) => (
          <Button key={a.response} size="md" variant={a.response === "cant_tell" ? "default" : "filled"}
            onClick={() => answer(a.response)} aria-keyshortcuts={KEYS[a.key]} disabled={busy}
            aria-disabled={!started || undefined} data-waiting={!started || undefined}
            rightSection={<Kbd aria-hidden>{a.hint}</Kbd>}>
            {a.label}
          </Button>
        ))}
      </div>
    </>
  );
}
