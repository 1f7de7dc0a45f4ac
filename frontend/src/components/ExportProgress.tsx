// A queued export followed to its end: polls GET /api/exports/{id} every second, shows the build's progress
// (steps written of the steps to write) and then the presigned link to the ZIP, or one link per file of a
// directory-tree export, with the size and the moment the links expire; a failed build shows its error.
import { Alert, Anchor, Button, CopyButton, Group, Progress, ScrollArea, Stack, Table, Text } from "@mantine/core";
import { useEffect, useState } from "react";

import { api, type ExportOut } from "../api";
import { formatBytes, formatDate } from "../views/episodes/format";
import { ErrorAlert } from "./ErrorAlert";

const POLL_MS = 1000;
const FINISHED = new Set(["done", "failed"]);
const STATE_TEXT: Record<string, string> = {
  queued: "Queued — waiting for an exporter",
  running: "Building the dataset",
  done: "Ready",
  failed: "Failed",
};

export function ExportProgress({ initial }: { initial: ExportOut }) {
  const [job, setJob] = useState<ExportOut>(initial);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    if (FINISHED.has(job.state)) return;
    const ctl = new AbortController();
    const timer = window.setTimeout(async () => {
      try {
        setJob(await api<ExportOut>("GET", `/api/exports/${encodeURIComponent(job.id)}`, undefined, { signal: ctl.signal }));
        setError(null);
      } catch (e) {
        if ((e as Error).name === "AbortError") return;
        setError(e); // shown, and polled again: a gateway restart should not end the wait
        setJob((j) => ({ ...j }));
      }
    }, POLL_MS);
    return () => {
      ctl.abort();
      window.clearTimeout(timer);
    };
  }, [job]);

  const percent = job.state === "done" ? 100 : job.steps_total > 0 ? Math.floor((100 * job.steps_done) / job.steps_total) : 0;
  return (
    <Stack gap="sm" aria-live="polite">
      <Group justify="space-between">
        <Text fw={600}>{STATE_TEXT[job.state] ?? job.state}</Text>
        <Text size="sm" c="dimmed">
          {job.steps_done.toLocaleString()} / {job.steps_total ? job.steps_total.toLocaleString() : "?"} steps ·{" "}
          {job.episodes} episode{job.episodes === 1 ? "" : "s"}
        </Text>
      </Group>
      <Progress.Root size="lg">
        <Progress.Section
          value={percent}
          color={job.state === "failed" ? "red" : job.state === "done" ? "green" : undefined}
          animated={!FINISHED.has(job.state)}
          striped={!FINISHED.has(job.state)}
          aria-label="Export progress"
          withAria
        >
          <Progress.Label>{percent}%</Progress.Label>
        </Progress.Section>
      </Progress.Root>
      <ErrorAlert error={error} title="Could not read the export's progress" />
      {job.state === "failed" && (
        <Alert color="red" title="The export failed" role="alert">
          {job.error ?? "The exporter gave no reason"}
        </Alert>
      )}
      {job.state === "done" && job.url && (
        <Stack gap={4}>
          <Group gap="sm">
            <Button component="a" href={job.url} download color="green">
              Download ZIP ({formatBytes(job.size_bytes)})
            </Button>
            <CopyButton value={job.url}>
              {({ copied, copy }) => (
                <Button variant="default" onClick={copy}>
                  {copied ? "Link copied" : "Copy link"}
                </Button>
              )}
            </CopyButton>
          </Group>
          <Text size="xs" c="dimmed">
            The link expires {formatDate(job.expires_at)}.
          </Text>
        </Stack>
      )}
      {job.state === "done" && job.files && (
        <Stack gap={4}>
          <Text size="sm">
            {job.files.length} file{job.files.length === 1 ? "" : "s"}, {formatBytes(job.size_bytes)}; the links expire{" "}
            {formatDate(job.expires_at)}.
          </Text>
          <ScrollArea.Autosize mah={240}>
            <Table aria-label="Files of the dataset" verticalSpacing={2}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>File</Table.Th>
                  <Table.Th style={{ textAlign: "right" }}>Size</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {job.files.map((f) => (
                  <Table.Tr key={f.path}>
                    <Table.Td>
                      <Anchor href={f.url} download size="sm" ff="monospace">
                        {f.path}
                      </Anchor>
                    </Table.Td>
                    <Table.Td style={{ textAlign: "right" }}>{formatBytes(f.size)}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </ScrollArea.Autosize>
        </Stack>
      )}
    </Stack>
  );
}
