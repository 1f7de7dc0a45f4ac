// The side panels of a saved study: a participant link to copy, the live sessions (to watch), open/closed,
// archive and delete, and the versions (load one back into the form).
import { Alert, Anchor, Button, Card, Group, Modal, Stack, Switch, Table, Text, TextInput, Title } from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { notifications } from "@mantine/notifications";
import { useEffect, useRef, useState } from "react";
import { Link, useNavigate } from "react-router-dom";

import { api, ApiError, type Page, type ParticipantOut, type SessionOut, type StudyOut, type StudySpec,
  type StudyVersion } from "../../api";
import { ago } from "../../format";

export function ParticipantLink({ studyId, disabled }: { studyId: string; disabled: boolean }) {
  const [externalId, setExternalId] = useState("");
  const [link, setLink] = useState<{ url: string; expires: string } | null>(null);
  const [copied, setCopied] = useState(false);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  const create = async () => {
    setBusy(true);
    try {
      const p = await api<ParticipantOut>("POST", `/api/studies/${studyId}/participants`,
        externalId.trim() ? { external_id: externalId.trim() } : {});
      setLink({ url: `${location.origin}/?token=${encodeURIComponent(p.token)}`, expires: p.expires_at });
      setCopied(false);
    } catch (e) {
      notifications.show({ color: "red", title: "No link made", message: (e as Error).message });
    } finally {
      setBusy(false);
    }
  };

  const copy = async () => {
    if (!link) return;
    try {
      await navigator.clipboard.writeText(link.url);
    } catch {
      // no clipboard API (plain http on another host): select it, so Ctrl+C copies it
      input.current?.select();
      document.execCommand?.("copy");
    }
    setCopied(true);
  };

  return (
    <Card withBorder>
      <Stack gap="xs">
        <Title order={2} size="h4">Participant link</Title>
        <Text size="sm" c="dimmed">
          Each link is one participant: send it to them; it opens the player.
        </Text>
        <TextInput label="Your id for them (optional)" value={externalId} onChange={(e) => setExternalId(e.currentTarget.value)} />
        <Button onClick={() => void create()} loading={busy} variant="light">
          Create participant link
        </Button>
        {disabled && <Text size="xs" c="orange">The study is closed: links open it, but play starts only once it is open.</Text>}
        {link && (
          <>
            <TextInput label="Participant link" readOnly value={link.url} ref={input} onFocus={(e) => e.currentTarget.select()} />
            <Group gap="xs">
              <Button size="xs" onClick={() => void copy()} color={copied ? "teal" : undefined}>
                {copied ? "Copied" : "Copy link"}
              </Button>
              <Anchor href={link.url} target="_blank" rel="noreferrer" size="sm">Open it</Anchor>
              <Text size="xs" c="dimmed">valid until {new Date(link.expires).toLocaleString()}</Text>
            </Group>
          </>
        )}
      </Stack>
    </Card>
  );
}

export function LiveSessions({ studyId }: { studyId: string }) {
  const [sessions, setSessions] = useState<SessionOut[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    const load = async () => {
      try {
        const page = await api<Page<SessionOut>>("GET", `/api/studies/${studyId}/sessions?active=true&limit=100`);
        if (live) {
          setSessions(page.items.filter((s) => !s.ended_at));
          setError(null);
        }
      } catch (e) {
        if (live) setError((e as Error).message);
      }
    };
    void load();
    const timer = setInterval(load, 5000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [studyId]);

  return (
    <Card withBorder>
      <Stack gap="xs">
        <Title order={2} size="h4">Live sessions</Title>
        {error && <Text size="sm" c="red">{error}</Text>}
        {sessions && sessions.length === 0 && <Text size="sm" c="dimmed">Nobody is playing right now.</Text>}
        {sessions && sessions.length > 0 && (
          <Table aria-label="Live sessions" striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Environment</Table.Th>
                <Table.Th>Started</Table.Th>
                <Table.Th>Episodes</Table.Th>
                <Table.Th><span className="pc-visually-hidden">Watch</span></Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {sessions.map((s) => (
                <Table.Tr key={s.id}>
                  <Table.Td>{s.env}</Table.Td>
                  <Table.Td>{ago(s.started_at)}</Table.Td>
                  <Table.Td>{s.episodes}</Table.Td>
                  <Table.Td>
                    <Anchor component={Link} to={`/live/${s.id}`} aria-label={`Watch session ${s.id.slice(0, 8)} live`}>
                      Watch
                    </Anchor>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
        <Text size="xs" c="dimmed">Refreshed every 5 s.</Text>
      </Stack>
    </Card>
  );
}

export function StudyState({ study, onPatch }: { study: StudyOut; onPatch(body: Record<string, unknown>): Promise<void> }) {
  const [opened, { open, close }] = useDisclosure(false);
  const [refusal, setRefusal] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const navigate = useNavigate();

  const remove = async () => {
    setBusy(true);
    try {
      await api<void>("DELETE", `/api/studies/${study.id}`);
      notifications.show({ color: "green", message: `Study "${study.name}" deleted` });
      navigate("/");
    } catch (e) {
      setRefusal(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card withBorder>
      <Stack gap="sm">
        <Title order={2} size="h4">State</Title>
        <Switch
          label="Open to participants"
          description="closed: links still open, but no new session starts"
          checked={study.enabled}
          disabled={study.archived}
          onChange={(e) => void onPatch({ enabled: e.currentTarget.checked })}
        />
        <Group gap="xs">
          <Button variant="default" size="xs" onClick={() => void onPatch({ archived: !study.archived })}>
            {study.archived ? "Unarchive" : "Archive"}
          </Button>
          <Button variant="light" color="red" size="xs" onClick={() => { setRefusal(null); open(); }}>
            Delete…
          </Button>
        </Group>
        <Text size="xs" c="dimmed">Archived studies are hidden from the list and closed to participants.</Text>
      </Stack>
      <Modal opened={opened} onClose={close} title={`Delete "${study.name}"?`}>
        <Stack>
          <Text size="sm">
            Deletes the study with its versions, participants and sessions. A study with episodes cannot be deleted:
            archive it instead.
          </Text>
          {refusal && <Alert color="red" role="alert">{refusal}</Alert>}
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>Keep it</Button>
            {refusal && !study.archived && (
              <Button variant="light" onClick={async () => { await onPatch({ archived: true }); close(); }}>
                Archive instead
              </Button>
            )}
            <Button color="red" onClick={() => void remove()} loading={busy}>Delete</Button>
          </Group>
        </Stack>
      </Modal>
    </Card>
  );
}

export function Versions({ studyId, current, changed, onLoad }: {
  studyId: string;
  current: number;
  changed: number;
  onLoad(spec: StudySpec): void;
}) {
  const [versions, setVersions] = useState<StudyVersion[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    api<Page<StudyVersion>>("GET", `/api/studies/${studyId}/versions?limit=1000`)
      .then((p) => live && setVersions([...p.items].sort((a, b) => b.version - a.version)))
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [studyId, changed]);

  return (
    <Card withBorder>
      <Stack gap="xs">
        <Title order={2} size="h4">Versions</Title>
        {error && <Text size="sm" c="red">{error}</Text>}
        {versions?.map((v) => (
          <Group key={v.version} justify="space-between" wrap="nowrap">
            <Text size="sm">
              <b>v{v.version}</b> {v.version === current && "(current)"} · {new Date(v.created_at).toLocaleString()} ·{" "}
              {v.spec.environments.map((e) => e.id).join(", ")}
            </Text>
            <Button size="compact-xs" variant="subtle" onClick={() => onLoad(v.spec)}
              aria-label={`Load version ${v.version} into the form`}>
              Load
            </Button>
          </Group>
        ))}
        <Text size="xs" c="dimmed">Load puts a version in the form; saving it makes a new version.</Text>
      </Stack>
    </Card>
  );
}
