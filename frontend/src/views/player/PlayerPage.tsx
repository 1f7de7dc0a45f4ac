// The participant's player: a participant link (/?token=... or /play?token=...) shows the study and its
// environments; Play opens the play WebSocket (src/player/connection.ts) and shows the game fitted to the window,
// the state in words, fps and round trip, the controls and the keep/discard prompt. A tab reloaded during a session
// resumes it.
import { Alert, Button, Card, Container, NativeSelect, Stack, Text, TextInput, Title } from "@mantine/core";
import { useCallback, useEffect, useState } from "react";
import { useSearchParams } from "react-router-dom";

import type { ParticipantStudy } from "../../api";
import { PlayConnection, playUrl } from "../../player/connection";
import { usePageTitle } from "../../usePageTitle";
import { GameView } from "./GameView";

const ENV_KEY = "playcorder-env";
const SESSION_KEY = "playcorder-session";

async function loadStudy(token: string): Promise<ParticipantStudy> {
  const response = await fetch("/api/participant/study", { headers: { Authorization: `Bearer ${token}` } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof body.detail === "string" ? body.detail : `HTTP ${response.status}`;
    throw new Error(response.status === 401 ? `This link is not valid (any more): ${detail}` : detail);
  }
  return body as ParticipantStudy;
}

function newConnection(token: string): PlayConnection {
  return new PlayConnection({
    url: playUrl(location),
    token,
    storage: sessionStorage,
    pads: () => (navigator.getGamepads ? navigator.getGamepads() : []),
  });
}

export function PlayerPage() {
  const [params, setParams] = useSearchParams();
  const token = params.get("token")?.trim() ?? "";
  const [study, setStudy] = useState<ParticipantStudy | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [env, setEnv] = useState<string>(() => sessionStorage.getItem(ENV_KEY) ?? "");
  const [connection, setConnection] = useState<PlayConnection | null>(null);
  usePageTitle(study ? study.name : "Play");

  useEffect(() => {
    if (!token) return;
    let live = true;
    setError(null);
    loadStudy(token)
      .then((s) => {
        if (!live) return;
        setStudy(s);
        setEnv((current) => (s.environments.some((e) => e.id === current) ? current : (s.environments[0]?.id ?? "")));
      })
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [token]);

  // A reload during a session: resume it at once (the worker keeps it for its grace).
  useEffect(() => {
    if (!token || !sessionStorage.getItem(SESSION_KEY) || !sessionStorage.getItem(ENV_KEY)) return;
    const c = newConnection(token);
    c.start(sessionStorage.getItem(ENV_KEY)!);
    setConnection(c);
    return () => c.dispose();
  }, [token]);

  const play = useCallback(() => {
    sessionStorage.setItem(ENV_KEY, env);
    sessionStorage.removeItem(SESSION_KEY); // a new session (Play from the start page)
    const c = newConnection(token);
    c.start(env);
    setConnection(c);
  }, [env, token]);

  useEffect(() => () => connection?.dispose(), [connection]);

  if (connection) {
    return (
      <GameView
        connection={connection}
        studyName={study?.name ?? ""}
        onLeave={() => {
          connection.close();
          sessionStorage.removeItem(ENV_KEY);
          setConnection(null);
        }}
      />
    );
  }

  return (
    <Container size="sm" py="xl" component="main">
      <Stack>
        <Title order={1}>{study ? study.name : "Playcorder"}</Title>
        {!token && (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              const value = new FormData(e.currentTarget).get("token");
              if (typeof value === "string" && value.trim()) setParams({ token: value.trim() });
            }}
          >
            <Stack>
              <Text>Open the link you were given, or paste its token here.</Text>
              <TextInput name="token" label="Participant token" required autoComplete="off" />
              <Button type="submit">Continue</Button>
            </Stack>
          </form>
        )}
        {error && (
          <Alert color="red" title="Cannot open this study" role="alert">
            {error}
          </Alert>
        )}
        {study && (
          <Card withBorder padding="lg">
            <form
              onSubmit={(e) => {
                e.preventDefault();
                play();
              }}
            >
              <Stack>
                {study.description && <Text>{study.description}</Text>}
                {study.instructions && <Text c="dimmed">{study.instructions}</Text>}
                {study.enabled === false && (
                  <Alert color="yellow" role="status" title="Closed right now">
                    This study is not taking new sessions at the moment. Try again later.
                  </Alert>
                )}
                {study.environments.length === 0 ? (
                  <Alert color="yellow" role="status">
                    This study has no environment to play right now.
                  </Alert>
                ) : (
                  <NativeSelect
                    label="Environment"
                    value={env}
                    onChange={(e) => setEnv(e.currentTarget.value)}
                    data={study.environments.map((e) => ({ value: e.id, label: `${e.id} (${e.env_id})` }))}
                  />
                )}
                {study.environments.find((e) => e.id === env)?.instructions && (
                  <Text size="sm">{study.environments.find((e) => e.id === env)!.instructions}</Text>
                )}
                <Text size="sm" c="dimmed">
                  Play with the keys the instructions name, a gamepad, a 6-DOF controller or the on-screen buttons.
                  An episode starts paused: your first input starts it. Escape pauses and resumes; Enter starts a
                  new episode; y / n keeps or discards a finished one.
                </Text>
                <Button type="submit" size="md" disabled={!env || study.enabled === false}>
                  Play
                </Button>
              </Stack>
            </form>
          </Card>
        )}
      </Stack>
    </Container>
  );
}
