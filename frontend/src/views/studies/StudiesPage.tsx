// The designer's studies: name, version, environments, episodes and state (open, closed, archived), with the
// archived ones on request, and "New study".
import { Anchor, Badge, Button, Group, Loader, Stack, Switch, Table, Text, Title } from "@mantine/core";
import { useEffect, useState } from "react";
import { Link } from "react-router-dom";

import { allPages, type StudyOut } from "../../api";
import { ErrorAlert } from "../../components/ErrorAlert";
import { usePageTitle } from "../../usePageTitle";

function StateBadge({ study }: { study: StudyOut }) {
  if (study.archived) return <Badge color="gray">archived</Badge>;
  if (!study.enabled) return <Badge color="orange">closed</Badge>;
  return <Badge color="green">open</Badge>;
}

export function StudiesPage() {
  usePageTitle("Studies");
  const [archived, setArchived] = useState(false);
  const [studies, setStudies] = useState<StudyOut[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    let live = true;
    setStudies(null);
    allPages<StudyOut>(`/api/studies${archived ? "?archived=true" : ""}`)
      .then((s) => live && setStudies([...s].reverse())) // newest first (the API pages oldest first)
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [archived]);

  return (
    <Stack maw={1200} mx="auto">
      <Group justify="space-between">
        <Title order={1}>{archived ? "Archived studies" : "Studies"}</Title>
        <Group>
          <Switch label="Show archived" checked={archived} onChange={(e) => setArchived(e.currentTarget.checked)} />
          <Button component={Link} to="/studies/new">New study</Button>
        </Group>
      </Group>
      <ErrorAlert error={error} title="Cannot list the studies" />
      {studies === null && !error && <Loader aria-label="Loading the studies" />}
      {studies && studies.length === 0 && (
        <Text c="dimmed">
          {archived ? "No archived studies." : "No studies yet: create one with New study (or `playcorder studies create`)."}
        </Text>
      )}
      {studies && studies.length > 0 && (
        <Table.ScrollContainer minWidth={640}>
          <Table striped highlightOnHover aria-label="Studies">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Version</Table.Th>
                <Table.Th>Environments</Table.Th>
                <Table.Th>Episodes</Table.Th>
                <Table.Th>State</Table.Th>
                <Table.Th><span className="pc-visually-hidden">Links</span></Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {studies.map((s) => (
                <Table.Tr key={s.id}>
                  <Table.Td>
                    <Anchor component={Link} to={`/studies/${s.id}`} fw={600}>{s.name}</Anchor>
                  </Table.Td>
                  <Table.Td>{s.version ?? 1}</Table.Td>
                  <Table.Td>
                    <Group gap={4}>
                      {s.spec.environments.map((e) => (
                        <Badge key={e.id} variant={s.disabled_environments?.includes(e.id) ? "outline" : "light"}
                          color={s.disabled_environments?.includes(e.id) ? "gray" : "indigo"}
                          title={`${e.env_id}${s.disabled_environments?.includes(e.id) ? " (disabled)" : ""}`}>
                          {e.id}
                        </Badge>
                      ))}
                    </Group>
                  </Table.Td>
                  <Table.Td>{s.episode_count ?? "–"}</Table.Td>
                  <Table.Td><StateBadge study={s} /></Table.Td>
                  <Table.Td>
                    <Anchor component={Link} to={`/studies/${s.id}/episodes`} aria-label={`Episodes of ${s.name}`}>
                      Episodes
                    </Anchor>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Stack>
  );
}
