// Episodes (/studies/:id/episodes): a study's recorded episodes, filtered on the server (state, environment,
// participant, tags, reward, date, version), a page of 100 at a time; sortable, selectable, deleted in bulk after a
// confirmation, and downloaded as a dataset through the download dialog.
import { Button, Group, Loader, Modal, Stack, Text, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import type { RowSelectionState } from "@tanstack/react-table";
import { useMemo, useState } from "react";
import { useParams, useSearchParams } from "react-router-dom";

import { ApiError, api, type StudyOut } from "../../api";
import { ErrorAlert } from "../../components/ErrorAlert";
import { ExportDialog } from "../../components/ExportDialog";
import { StudyCrumbs } from "../../components/StudyCrumbs";
import { usePageTitle } from "../../usePageTitle";
import { useStudy } from "./useStudy";
import { EpisodeFilters } from "./EpisodeFilters";
import { EpisodesTable } from "./EpisodesTable";
import { apiSearch, exportFilter, paramsFromQuery, queryFromParams } from "./query";
import { useEpisodes } from "./useEpisodes";

export function EpisodesPage() {
  const { id = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const paramText = params.toString();
  const query = useMemo(() => queryFromParams(new URLSearchParams(paramText)), [paramText]);
  const search = useMemo(() => apiSearch(query).toString(), [query]);
  const study = useStudy(id);
  const episodes = useEpisodes(id, search);
  const [selection, setSelection] = useState<RowSelectionState>({});
  const [exportOpen, setExportOpen] = useState(false);
  const [toDelete, setToDelete] = useState<string[]>([]); // the selection when "Delete selected" was pressed
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [deleteError, setDeleteError] = useState<unknown>(null);
  usePageTitle(study.data ? `Episodes of ${study.data.name}` : "Episodes");

  const environments = useMemo(() => envOptions(study.data), [study.data]);
  const selectedIds = useMemo(
    () => episodes.items.filter((e) => selection[e.id]).map((e) => e.id),
    [episodes.items, selection],
  );
  const selectedEnvs = useMemo(
    () => [...new Set(episodes.items.filter((e) => selection[e.id]).map((e) => e.env))].sort(),
    [episodes.items, selection],
  );
  const showVersion = episodes.items.some((e) => e.study_version !== undefined && e.study_version !== null);

  async function deleteSelected() {
    setDeleting(true);
    setDeleteError(null);
    const done: string[] = [];
    const failures: string[] = [];
    for (const episodeId of toDelete) {
      try {
        await api("DELETE", `/api/episodes/${encodeURIComponent(episodeId)}`);
        done.push(episodeId);
      } catch (e) {
        failures.push(e instanceof ApiError ? String(e.message) : String(e));
      }
    }
    episodes.removed(done);
    setSelection({});
    setDeleting(false);
    if (failures.length) {
      setDeleteError(new Error(`${failures.length} not deleted: ${failures.join("; ")}`));
    } else {
      setConfirmDelete(false);
    }
    if (done.length) {
      notifications.show({ message: `Deleted ${done.length} episode${done.length === 1 ? "" : "s"}`, color: "green" });
    }
  }

  return (
    <Stack gap="md">
      <StudyCrumbs studyId={id} name={study.data?.name}>
        <Text>Episodes</Text>
      </StudyCrumbs>
      <Title order={1}>Episodes{study.data ? ` of ${study.data.name}` : ""}</Title>
      <ErrorAlert error={study.error} title="Could not load the study" />
      <EpisodeFilters
        value={query}
        environments={environments}
        onChange={(q) => {
          setSelection({});
          setParams(paramsFromQuery(q), { replace: true });
        }}
      />
      <Group justify="space-between">
        <Text size="sm" c="dimmed" aria-live="polite">
          {episodes.items.length} episode{episodes.items.length === 1 ? "" : "s"}
          {episodes.nextCursor ? " loaded, more to load" : ""}
          {selectedIds.length ? ` · ${selectedIds.length} selected` : ""}
        </Text>
        <Group gap="sm">
          <Button variant="default" onClick={episodes.reload} loading={episodes.loading && !episodes.items.length}>
            Refresh
          </Button>
          <Button color="red" variant="light" disabled={!selectedIds.length} onClick={() => {
              setToDelete(selectedIds);
              setDeleteError(null);
              setConfirmDelete(true);
            }}>
            Delete selected
          </Button>
          <Button onClick={() => setExportOpen(true)} disabled={!study.data}>
            Download
          </Button>
        </Group>
      </Group>
      <ErrorAlert error={episodes.error} title="Could not load the episodes" />
      {episodes.items.length > 0 ? (
        <EpisodesTable
          episodes={episodes.items}
          selection={selection}
          onSelectionChange={setSelection}
          showVersion={showVersion}
        />
      ) : episodes.loading ? (
        <Group justify="center" p="xl">
          <Loader aria-label="Loading episodes" />
        </Group>
      ) : (
        !episodes.error && (
          <Text c="dimmed" ta="center" p="xl">
            {search ? "No episode matches these filters." : "No episodes recorded yet: share the participant link of the study."}
          </Text>
        )
      )}
      {episodes.nextCursor && (
        <Group justify="center">
          <Button variant="default" onClick={episodes.loadMore} loading={episodes.loading}>
            Load more
          </Button>
        </Group>
      )}
      <Modal opened={confirmDelete} onClose={() => setConfirmDelete(false)} title="Delete episodes">
        <Stack>
          <Text>
            Delete {toDelete.length} episode{toDelete.length === 1 ? "" : "s"} and all their recorded steps? This cannot
            be undone.
          </Text>
          <ErrorAlert error={deleteError} title="Some episodes were not deleted" />
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setConfirmDelete(false)}>
              Cancel
            </Button>
            <Button color="red" onClick={() => void deleteSelected()} loading={deleting} disabled={!toDelete.length}>
              Delete
            </Button>
          </Group>
        </Stack>
      </Modal>
      {study.data && (
        <ExportDialog
          opened={exportOpen}
          onClose={() => setExportOpen(false)}
          studyId={id}
          studyName={study.data.name}
          selectedIds={selectedIds}
          selectedEnvs={selectedEnvs}
          filter={exportFilter(query)}
          environments={environments}
        />
      )}
    </Stack>
  );
}

function envOptions(study: StudyOut | null): { value: string; label: string }[] {
  return (study?.spec.environments ?? []).map((e) => ({
    value: e.id,
    label: e.id === e.env_id ? e.id : `${e.id} (${e.env_id})`,
  }));
}
