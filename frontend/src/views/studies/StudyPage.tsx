// /studies/new (create) and /studies/:id (edit): the spec form, and for a saved study its state (open to
// participants, archived, delete), a participant link to copy, the live sessions and the versions.
import { Anchor, Badge, Breadcrumbs, Button, Center, Grid, Group, Loader, Stack, Text, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useCallback, useEffect, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";

import { api, type StudyOut, type StudySpec } from "../../api";
import { ErrorAlert } from "../../components/ErrorAlert";
import { usePageTitle } from "../../usePageTitle";
import { CampaignsPanel } from "../campaign/CampaignsPanel";
import { LiveSessions, ParticipantLink, StudyState, Versions } from "./StudyPanels";
import { StudyForm } from "./StudyForm";
import { blankStudy, formOf, type StudyForm as Form } from "./specForm";

export function StudyPage() {
  const { id } = useParams();
  return id ? <EditStudy id={id} key={id} /> : <NewStudy />;
}

function NewStudy() {
  usePageTitle("New study");
  const navigate = useNavigate();
  const [form, setForm] = useState<Form>(blankStudy);
  const save = async (spec: StudySpec) => {
    const study = await api<StudyOut>("POST", "/api/studies", spec);
    notifications.show({ color: "green", message: `Study "${study.name}" created (version ${study.version ?? 1})` });
    navigate(`/studies/${study.id}`);
  };
  return (
    <Stack maw={1100} mx="auto">
      <Breadcrumbs>
        <Anchor component={Link} to="/">Studies</Anchor>
        <Text>New study</Text>
      </Breadcrumbs>
      <Title order={1}>New study</Title>
      <StudyForm form={form} onChange={setForm} onSave={save} saveLabel="Create study" />
    </Stack>
  );
}

function EditStudy({ id }: { id: string }) {
  const [study, setStudy] = useState<StudyOut | null>(null);
  const [form, setForm] = useState<Form | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [versionsChanged, setVersionsChanged] = useState(0);
  usePageTitle(study ? study.name : "Study");

  const load = useCallback(async () => {
    try {
      const s = await api<StudyOut>("GET", `/api/studies/${id}`);
      setStudy(s);
      setForm(formOf(s.spec));
    } catch (e) {
      setError(e);
    }
  }, [id]);

  useEffect(() => {
    void load();
  }, [load]);

  if (error) return <ErrorAlert error={error} title="Cannot open this study" />;
  if (!study || !form) {
    return (
      <Center h="40vh">
        <Loader aria-label="Loading the study" />
      </Center>
    );
  }

  const save = async (spec: StudySpec) => {
    const before = study.version;
    const saved = await api<StudyOut>("PUT", `/api/studies/${id}`, spec);
    setStudy(saved);
    setForm(formOf(saved.spec));
    setVersionsChanged((n) => n + 1);
    notifications.show({
      color: "green",
      message: saved.version === before ? `No change: still version ${saved.version}`
        : `Saved as version ${saved.version}`,
    });
  };

  const patch = async (body: Record<string, unknown>) => {
    try {
      setStudy(await api<StudyOut>("PATCH", `/api/studies/${id}`, body));
    } catch (e) {
      notifications.show({ color: "red", title: "Not changed", message: (e as Error).message });
    }
  };

  const toggleEnv = (key: string, enabled: boolean) => {
    const disabled = new Set(study.disabled_environments ?? []);
    if (enabled) disabled.delete(key);
    else disabled.add(key);
    void patch({ disabled_environments: [...disabled] });
  };

  return (
    <Stack maw={1300} mx="auto">
      <Breadcrumbs>
        <Anchor component={Link} to="/">Studies</Anchor>
        <Text>{study.name}</Text>
      </Breadcrumbs>
      <Group justify="space-between" align="flex-end">
        <Group gap="sm" align="center">
          <Title order={1}>{study.name}</Title>
          <Badge variant="light">version {study.version}</Badge>
          {study.archived ? <Badge color="gray">archived</Badge>
            : study.enabled ? <Badge color="green">open</Badge> : <Badge color="orange">closed</Badge>}
        </Group>
        <Button component={Link} to={`/studies/${id}/episodes`} variant="light">
          Episodes ({study.episode_count ?? 0})
        </Button>
      </Group>
      <Grid gutter="lg">
        <Grid.Col span={{ base: 12, lg: 8 }}>
          <StudyForm
            form={form}
            onChange={setForm}
            onSave={save}
            saveLabel="Save as a new version"
            studyId={id}
            version={study.version}
            savedEnvs={study.spec.environments.map((e) => e.id)}
            disabledEnvs={study.disabled_environments}
            onToggleEnv={toggleEnv}
          />
        </Grid.Col>
        <Grid.Col span={{ base: 12, lg: 4 }}>
          <Stack>
            <ParticipantLink studyId={id} disabled={!study.enabled || study.archived} />
            <LiveSessions studyId={id} />
            <CampaignsPanel studyId={id} firstEnv={study.spec.environments[0]?.id ?? "env"} />
            <StudyState study={study} onPatch={patch} />
            <Versions studyId={id} current={study.version} changed={versionsChanged}
              onLoad={(spec) => setForm(formOf(spec))} />
          </Stack>
        </Grid.Col>
      </Grid>
    </Stack>
  );
}
