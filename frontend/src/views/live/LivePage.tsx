// /live/:sessionId: a designer watches a running session read-only (/ws/watch): its frames, its state, and the
// participant's inputs as they arrive (what is held now, and a list of every message).
import { Badge, Card, Grid, Group, Kbd, ScrollArea, Stack, Table, Text, Title } from "@mantine/core";
import { useCallback, useEffect, useMemo, useState } from "react";
import { useParams } from "react-router-dom";

import { FrameCanvas } from "../../components/FrameCanvas";
import { StudyCrumbs } from "../../components/StudyCrumbs";
import { describeState, type Frame, type Snapshot } from "../../player/connection";
import { describeInput, WatchConnection, watchUrl, type WatchSnapshot } from "../../player/watch";
import { usePageTitle } from "../../usePageTitle";
import { useStudy } from "../episodes/useStudy";

const PHASE_COLOR = { connecting: "blue", watching: "green", reconnecting: "yellow", ended: "gray", refused: "red" };

function stateText(s: WatchSnapshot): string {
  if (!s.state) return s.phase === "watching" ? "Waiting for the session's next event" : s.message;
  // the participant's words for it, as their player shows it
  return describeState({ phase: "playing", state: s.state, session: s.session, message: "" } as unknown as Snapshot);
}

export function LivePage() {
  const { sessionId = "" } = useParams();
  usePageTitle("Live view");
  const connection = useMemo(() => new WatchConnection(watchUrl(location, sessionId)), [sessionId]);
  const [snap, setSnap] = useState<WatchSnapshot>(connection.snapshot);

  useEffect(() => {
    const off = connection.subscribe(setSnap);
    connection.start();
    return () => {
      off();
      connection.stop();
    };
  }, [connection]);

  const frames = useCallback((listener: (f: Frame) => void) => connection.onFrame(listener), [connection]);
  const w = snap.watching;
  const study = useStudy(w?.study_id ?? "");
  const held = [...snap.held.keys, ...snap.held.touch.map((t) => `touch ${t}`),
    ...snap.held.buttons.map((b, i) => (b > 0.5 ? `Button${i}` : "")).filter(Boolean)];

  return (
    <Stack maw={1400} mx="auto">
      <StudyCrumbs studyId={w?.study_id} name={study.data?.name}>
        <Text>Live session {sessionId.slice(0, 8)}</Text>
      </StudyCrumbs>
      <Group gap="sm">
        <Title order={1}>Live view</Title>
        <Badge color={PHASE_COLOR[snap.phase]} variant="light" aria-label="Connection">{snap.phase}</Badge>
        <Text c="dimmed">read-only: the participant plays, you watch</Text>
      </Group>
      <Grid gutter="lg">
        <Grid.Col span={{ base: 12, md: 7 }}>
          <Card withBorder padding="xs">
            <FrameCanvas subscribe={frames} label="The participant's screen" className="pc-live-screen" />
            <Group justify="space-between" mt="xs">
              <Text fw={600} role="status" aria-live="polite">{stateText(snap)}</Text>
              <Text size="sm" c="dimmed">
                Step <b aria-label="Step">{snap.step}</b> · return {snap.episodeReturn.toFixed(1)} · {snap.framesPerSecond} fps
              </Text>
            </Group>
            {snap.phase !== "watching" && <Text c="orange" size="sm" role="alert">{snap.message}</Text>}
          </Card>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 5 }}>
          <Stack>
            <Card withBorder>
              <Title order={2} size="h4" mb="xs">Session</Title>
              {w ? (
                <Table>
                  <Table.Tbody>
                    <Table.Tr><Table.Th>Environment</Table.Th><Table.Td>{w.env} ({w.env_id ?? "?"})</Table.Td></Table.Tr>
                    <Table.Tr><Table.Th>Participant</Table.Th><Table.Td><code>{w.participant_id.slice(0, 12)}</code></Table.Td></Table.Tr>
                    <Table.Tr><Table.Th>Started</Table.Th><Table.Td>{new Date(w.started_at).toLocaleString()}</Table.Td></Table.Tr>
                    <Table.Tr><Table.Th>Episode</Table.Th><Table.Td>{snap.episodeIndex ?? "started before you joined"}</Table.Td></Table.Tr>
                  </Table.Tbody>
                </Table>
              ) : <Text size="sm" c="dimmed">{snap.message}</Text>}
            </Card>
            <Card withBorder>
              <Title order={2} size="h4" mb="xs">Held now</Title>
              <Group gap={6} mih={28} aria-label="Inputs held now">
                {held.length === 0 ? <Text size="sm" c="dimmed">nothing</Text>
                  : held.map((k) => <Kbd key={k}>{k}</Kbd>)}
              </Group>
              {snap.held.axes.some((a) => Math.abs(a) > 0.1) && (
                <Text size="xs" mt={4}>Gamepad axes: {snap.held.axes.map((a) => a.toFixed(2)).join(" ")}</Text>
              )}
              {snap.held.sixdof.length > 0 && (
                <Text size="xs" mt={4}>6-DOF: {snap.held.sixdof.map((a) => a.toFixed(2)).join(" ")}</Text>
              )}
            </Card>
            <Card withBorder>
              <Title order={2} size="h4" mb="xs">Inputs ({snap.inputs.length}{snap.inputs.length >= 200 ? "+" : ""})</Title>
              <ScrollArea h={260} type="auto">
                <ol className="pc-live-inputs" aria-label="The participant's inputs, newest first">
                  {snap.inputs.map((i, n) => (
                    <li key={snap.inputs.length - n}>
                      <Text span size="xs" c="dimmed">{new Date(i.at).toLocaleTimeString()}</Text>{" "}
                      <Text span size="sm">{describeInput(i.message)}</Text>
                    </li>
                  ))}
                </ol>
              </ScrollArea>
            </Card>
            {snap.events.length > 0 && (
              <Card withBorder>
                <Title order={2} size="h4" mb="xs">Events</Title>
                <ul className="pc-live-inputs">
                  {snap.events.slice(0, 8).map((e, n) => <li key={snap.events.length - n}><Text span size="sm">{e.text}</Text></li>)}
                </ul>
              </Card>
            )}
          </Stack>
        </Grid.Col>
      </Grid>
    </Stack>
  );
}
