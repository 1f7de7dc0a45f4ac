// The game while a session runs: the frame scaled to the space left (aspect kept), a status bar (connection, state
// in words, step, return, fps, round trip), the keep/discard prompt over the frame, on-screen controls and the
// session's controls. Keys go to the game while the game area (or nothing) has focus; Tab moves through controls.
import { Badge, Button, Group, NativeSelect, Popover, Slider, Text } from "@mantine/core";
import { useCallback, useEffect, useRef, useState } from "react";

import { FrameCanvas } from "../../components/FrameCanvas";
import { describeState, type Frame, type PlayConnection, type Snapshot } from "../../player/connection";
import { keyHelp } from "../../player/keyHelp";
import "./player.css";

const QUALITIES = [
  { value: "30", label: "low" },
  { value: "60", label: "medium" },
  { value: "90", label: "high" },
];

function useSnapshot(connection: PlayConnection): Snapshot {
  const [snapshot, setSnapshot] = useState(connection.snapshot);
  useEffect(() => connection.subscribe(setSnapshot), [connection]);
  return snapshot;
}

/** Re-render every half second while a retry is due, for its countdown. */
function useTicking(active: boolean): void {
  const [, setTick] = useState(0);
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setTick((t) => t + 1), 500);
    return () => clearInterval(timer);
  }, [active]);
}

const PHASE_COLOR: Record<string, string> = {
  playing: "green", connecting: "blue", reconnecting: "yellow", no_capacity: "yellow", ended: "gray",
  refused: "red", idle: "gray",
};
const PHASE_LABEL: Record<string, string> = {
  playing: "Connected", connecting: "Connecting", reconnecting: "Reconnecting", no_capacity: "Waiting for room",
  ended: "Ended", refused: "Refused", idle: "Not connected",
};

function nearestQuality(q: number): string {
  return QUALITIES.reduce((best, o) => (Math.abs(Number(o.value) - q) < Math.abs(Number(best.value) - q) ? o : best))
    .value;
}

function isControl(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || !el.closest) return false;
  return el.closest("input, select, textarea, button, a, [role=slider], [role=dialog]") !== null;
}

export function GameView({ connection, studyName, onLeave, aside }: {
  connection: PlayConnection;
  studyName: string;
  onLeave: () => void;
  aside?: React.ReactNode; // shown under the status bar (a campaign's progress)
}) {
  const snapshot = useSnapshot(connection);
  const { session, state, finished } = snapshot;
  const gameRef = useRef<HTMLDivElement>(null);
  const [speed, setSpeed] = useState<number | null>(null);
  useTicking(snapshot.retryAt !== null);

  const frames = useCallback((listener: (f: Frame) => void) => connection.onFrame(listener), [connection]);

  // Keys: to the game unless a control has focus (Tab, and shortcuts with Ctrl/Meta, stay the browser's).
  useEffect(() => {
    const down = (e: KeyboardEvent) => {
      if (e.key === "Tab" || e.ctrlKey || e.metaKey || isControl(e.target)) return;
      if (connection.keyDown(e.key, e.code)) e.preventDefault();
    };
    const up = (e: KeyboardEvent) => connection.keyUp(e.key, e.code);
    const blur = () => connection.releaseAll();
    document.addEventListener("keydown", down);
    document.addEventListener("keyup", up);
    window.addEventListener("blur", blur);
    return () => {
      document.removeEventListener("keydown", down);
      document.removeEventListener("keyup", up);
      window.removeEventListener("blur", blur);
    };
  }, [connection]);

  // Focus the game when it starts, and again after a control is used with the mouse (keys go back to the game).
  useEffect(() => {
    if (session) gameRef.current?.focus();
  }, [session]);
  const backToGame = (e: React.MouseEvent) => {
    if (e.detail > 0) gameRef.current?.focus();
  };

  const realtimeSpeed = session && (session.mode === "realtime" || session.step_while_held);
  const stateText = describeState(snapshot);
  const waiting = snapshot.retryAt !== null && (snapshot.phase === "reconnecting" || snapshot.phase === "no_capacity");
  const seconds = waiting ? Math.max(0, Math.ceil((snapshot.retryAt! - Date.now()) / 1000)) : 0;
  const over = snapshot.phase === "ended" || snapshot.phase === "refused";
  const paused = state?.state !== "running";
  // Enter and Escape are the page's shortcuts unless the game binds them (NetHack's --More-- and ESC)
  const pageEnter = !session || connection.pageKey("Enter");
  const pageEscape = !session || connection.pageKey("Escape");

  return (
    <div className="pc-player">
      <header className="pc-player-bar">
        <Text fw={700} truncate="end" className="pc-player-title">
          {studyName || "Playcorder"}
          {session && <Text span c="dimmed" fw={400}> · {session.env_id}</Text>}
        </Text>
        <Group gap="xs" wrap="nowrap" className="pc-player-meters">
          <Badge color={PHASE_COLOR[snapshot.phase]} variant="light" aria-label="Connection">
            {PHASE_LABEL[snapshot.phase]}
          </Badge>
          <Text size="sm" aria-label="Frames per second" title="display frames received in the last second">
            {snapshot.framesPerSecond} fps
          </Text>
          <Text size="sm" aria-label="Round-trip time" title="round trip to the game server and back">
            {snapshot.rttMs === null ? "– ms" : `${snapshot.rttMs} ms`}
          </Text>
          <Popover width={320} position="bottom-end" withArrow>
            <Popover.Target>
              <Button variant="subtle" size="compact-sm">Help</Button>
            </Popover.Target>
            <Popover.Dropdown>
              {session?.instructions && <Text size="sm" mb="xs">{session.instructions}</Text>}
              {session && keyHelp(session.input_map, session.family).length > 0 && (
                <ul className="pc-player-keys" aria-label="Keys">
                  {keyHelp(session.input_map, session.family).map((line) => <li key={line}>{line}</li>)}
                </ul>
              )}
              <Text size="sm">
                Keys, a gamepad or a 6-DOF controller play; so do the on-screen buttons.
                {pageEscape && " Escape pauses and resumes,"}{pageEnter && " Enter starts a new episode,"} y / n keeps
                or discards a finished one.
                {(!pageEscape || !pageEnter) && " This game uses Enter and Escape itself: the Pause and New episode " +
                  "buttons below do that instead."}
                {" "}Tab moves to the controls; click the game{pageEscape && " (or press Escape there)"} to play
                again.
              </Text>
            </Popover.Dropdown>
          </Popover>
        </Group>
      </header>

      <div className="pc-player-status" role="status" aria-live="polite">
        <span className="pc-player-state" data-state={snapshot.phase === "playing" && state ? state.state : snapshot.phase}>
          {waiting ? `${snapshot.message}${seconds > 0 ? ` (${seconds} s)` : ""}` : stateText}
        </span>
        <span className="pc-player-numbers">
          Step <b aria-label="Step">{snapshot.step}</b> · return <b aria-label="Return">{snapshot.episodeReturn.toFixed(1)}</b>
        </span>
      </div>
      {aside}

      {snapshot.notice && (
        <div className="pc-player-notice" role="status" aria-live="polite">
          {snapshot.notice.message}
        </div>
      )}

      <div
        className="pc-player-game"
        ref={gameRef}
        tabIndex={0}
        role="application"
        aria-label="Game: press keys to play"
        onMouseDown={() => gameRef.current?.focus()}
      >
        <FrameCanvas subscribe={frames} label="Game screen" className="pc-player-stage">
          {finished && (
            <div className="pc-player-prompt" role="alertdialog" aria-labelledby="save-question">
              <Text fw={700} id="save-question">
                Episode over after {finished.num_steps} steps (return {finished.total_reward.toFixed(1)}). Keep it?
              </Text>
              <Group justify="center" mt="sm">
                <Button color="green" onClick={(e) => { connection.save(true); backToGame(e); }}>Keep (y)</Button>
                <Button color="red" variant="light" onClick={(e) => { connection.save(false); backToGame(e); }}>
                  Discard (n)
                </Button>
              </Group>
            </div>
          )}
          {(waiting || over) && !finished && (
            <div className="pc-player-prompt" role="alert">
              <Text fw={700}>{snapshot.message}</Text>
              {waiting && (
                <Button mt="sm" variant="light" onClick={() => connection.retryNow()}>Retry now</Button>
              )}
              {over && (
                <Button mt="sm" variant="light" onClick={() => location.reload()}>Reload</Button>
              )}
            </div>
          )}
        </FrameCanvas>
      </div>

      {session && session.touch_controls.length > 0 && (
        <div className="pc-player-touch" aria-label="On-screen controls" role="group">
          {session.touch_controls.map((name) => (
            <button
              key={name}
              type="button"
              className="pc-touch-button"
              aria-label={`Hold ${name}`}
              onPointerDown={(e) => { e.preventDefault(); connection.touch(name, true); }}
              onPointerUp={() => connection.touch(name, false)}
              onPointerCancel={() => connection.touch(name, false)}
              onPointerLeave={() => connection.touch(name, false)}
              onContextMenu={(e) => e.preventDefault()}
              onKeyDown={(e) => {
                if ((e.key === " " || e.key === "Enter") && !e.repeat) {
                  e.preventDefault();
                  connection.touch(name, true);
                }
              }}
              onKeyUp={(e) => (e.key === " " || e.key === "Enter") && connection.touch(name, false)}
              onBlur={() => connection.touch(name, false)}
            >
              {name}
            </button>
          ))}
        </div>
      )}

      <div className="pc-player-controls" role="toolbar" aria-label="Session controls">
        <Button size="xs" variant="default" onClick={(e) => { connection.togglePause(); backToGame(e); }}
          disabled={!session || over || state?.state === "idle" || state?.state === "awaiting_save"}>
          {(paused ? "Resume" : "Pause") + (pageEscape ? " (Esc)" : "")}
        </Button>
        <Button size="xs" variant="default" onClick={(e) => { connection.newEpisode(); backToGame(e); }}
          disabled={!session || over}>
          {pageEnter ? "New episode (Enter)" : "New episode"}
        </Button>
        <Button size="xs" variant="default" onClick={(e) => { connection.cancel(); backToGame(e); }}
          disabled={!session || over || state?.state === "idle"}>
          Cancel episode
        </Button>
        {realtimeSpeed && (
          <div className="pc-player-speed">
            <Text size="xs" id="speed-label">Speed {speed ?? state?.fps ?? session.fps} steps/s</Text>
            <Slider
              aria-labelledby="speed-label"
              thumbLabel="Speed in steps per second"
              min={1}
              max={60}
              size="sm"
              w={120}
              value={speed ?? state?.fps ?? session.fps}
              onChange={setSpeed}
              onChangeEnd={(v) => {
                connection.setFps(v);
                setSpeed(null);
              }}
              label={null}
            />
          </div>
        )}
        <NativeSelect
          size="xs"
          label="Quality"
          className="pc-player-select"
          value={nearestQuality(state?.jpeg_quality ?? session?.jpeg_quality ?? 80)}
          onChange={(e) => {
            connection.setQuality(Number(e.currentTarget.value));
            gameRef.current?.focus();
          }}
          data={QUALITIES}
          disabled={!session}
        />
        {session && session.cameras.length > 0 && (
          <NativeSelect
            size="xs"
            label="Camera"
            className="pc-player-select"
            value={state?.camera ?? session.cameras[0]}
            onChange={(e) => {
              connection.setCamera(e.currentTarget.value);
              gameRef.current?.focus();
            }}
            data={session.cameras}
          />
        )}
        <Button size="xs" variant="default" onClick={onLeave} title="End the session (an unfinished episode is not kept)">
          Leave
        </Button>
      </div>
      {snapshot.log.length > 0 && (
        <p className="pc-player-log" aria-label="Latest event">{snapshot.log[0].text}</p>
      )}
    </div>
  );
}
