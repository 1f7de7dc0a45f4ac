// The episodes table (TanStack Table): a thumbnail, the episode's start, environment, state, participant, tags,
// reward, length, duration and study version; click a header to sort the loaded rows, tick rows to select them.
import { Anchor, Badge, Checkbox, Group, Table, Text, Tooltip, UnstyledButton } from "@mantine/core";
import {
  type ColumnDef,
  type RowSelectionState,
  type SortingState,
  flexRender,
  getCoreRowModel,
  getSortedRowModel,
  useReactTable,
} from "@tanstack/react-table";
import { useMemo, useState } from "react";
import { Link } from "react-router-dom";

import type { EpisodeOut } from "../../api";
import { EpisodeThumbnail } from "../../components/EpisodeThumbnail";
import { STATE_COLORS, formatDate, formatDuration, formatReward, shortId } from "./format";

interface Props {
  episodes: EpisodeOut[];
  selection: RowSelectionState;
  onSelectionChange: (s: RowSelectionState) => void;
  showVersion: boolean;
}

function columns(showVersion: boolean): ColumnDef<EpisodeOut>[] {
  const cols: ColumnDef<EpisodeOut>[] = [
    {
      id: "select",
      enableSorting: false,
      header: ({ table }) => (
        <Checkbox
          aria-label="Select all episodes"
          checked={table.getIsAllRowsSelected()}
          indeterminate={table.getIsSomeRowsSelected()}
          onChange={table.getToggleAllRowsSelectedHandler()}
        />
      ),
      cell: ({ row }) => (
        <Checkbox
          aria-label={`Select episode ${shortId(row.original.id)}`}
          checked={row.getIsSelected()}
          onChange={row.getToggleSelectedHandler()}
        />
      ),
    },
    {
      id: "thumbnail",
      header: "Frame",
      enableSorting: false,
      cell: ({ row }) => <EpisodeThumbnail episode={row.original} />,
    },
    {
      id: "started_at",
      header: "Started",
      accessorFn: (e) => e.started_at,
      cell: ({ row }) => (
        <Tooltip label={`Episode ${row.original.id}`} openDelay={400}>
          <Anchor component={Link} to={`/episodes/${row.original.id}`} aria-label={`Replay episode ${shortId(row.original.id)}`}>
            {formatDate(row.original.started_at)}
          </Anchor>
        </Tooltip>
      ),
    },
    {
      id: "env",
      header: "Environment",
      accessorFn: (e) => e.env,
      cell: ({ row }) => (
        <div>
          <Text size="sm">{row.original.env}</Text>
          {row.original.env_id !== row.original.env && (
            <Text size="xs" c="dimmed">
              {row.original.env_id}
            </Text>
          )}
        </div>
      ),
    },
    {
      id: "state",
      header: "State",
      accessorFn: (e) => e.state,
      cell: ({ row }) => (
        <Tooltip label={row.original.end_reason ?? "no end reason"} disabled={!row.original.end_reason}>
          <Badge color={STATE_COLORS[row.original.state] ?? "gray"} variant="light">
            {row.original.state}
          </Badge>
        </Tooltip>
      ),
    },
    {
      id: "participant",
      header: "Participant",
      accessorFn: (e) => e.participant_id,
      cell: ({ row }) => (
        <Text size="sm" ff="monospace" title={row.original.participant_id}>
          {shortId(row.original.participant_id)}
        </Text>
      ),
    },
    {
      id: "tags",
      header: "Tags",
      accessorFn: (e) => e.tags.join(" "),
      cell: ({ row }) => (
        <Group gap={4}>
          {row.original.tags.map((t) => (
            <Badge key={t} size="sm" variant="outline" tt="none" style={{ flex: "none" }}>
              {t}
            </Badge>
          ))}
        </Group>
      ),
    },
    {
      id: "reward",
      header: "Reward",
      accessorFn: (e) => e.total_reward,
      cell: ({ row }) => formatReward(row.original.total_reward),
      meta: { numeric: true },
    },
    {
      id: "steps",
      header: "Steps",
      accessorFn: (e) => e.num_steps,
      meta: { numeric: true },
    },
    {
      id: "duration",
      header: "Duration",
      accessorFn: (e) => e.duration_s ?? -1,
      cell: ({ row }) => formatDuration(row.original.duration_s),
      meta: { numeric: true },
    },
  ];
  if (showVersion) {
    cols.push({
      id: "version",
      header: "Version",
      accessorFn: (e) => e.study_version ?? 0,
      cell: ({ row }) => (row.original.study_version ? `v${row.original.study_version}` : "—"),
      meta: { numeric: true },
    });
  }
  return cols;
}

const ARIA_SORT = { asc: "ascending", desc: "descending" } as const;

export function EpisodesTable({ episodes, selection, onSelectionChange, showVersion }: Props) {
  const [sorting, setSorting] = useState<SortingState>([]);
  const cols = useMemo(() => columns(showVersion), [showVersion]);
  const table = useReactTable({
    data: episodes,
    columns: cols,
    state: { sorting, rowSelection: selection },
    getRowId: (e) => e.id,
    enableRowSelection: true,
    onSortingChange: setSorting,
    onRowSelectionChange: (updater) =>
      onSelectionChange(typeof updater === "function" ? updater(selection) : updater),
    getCoreRowModel: getCoreRowModel(),
    getSortedRowModel: getSortedRowModel(),
  });

  return (
    <Table.ScrollContainer minWidth={900}>
      <Table striped highlightOnHover verticalSpacing={6} aria-label="Episodes">
        <Table.Thead>
          {table.getHeaderGroups().map((group) => (
            <Table.Tr key={group.id}>
              {group.headers.map((header) => {
                const sorted = header.column.getIsSorted();
                const numeric = (header.column.columnDef.meta as { numeric?: boolean } | undefined)?.numeric;
                return (
                  <Table.Th
                    key={header.id}
                    aria-sort={sorted ? ARIA_SORT[sorted] : header.column.getCanSort() ? "none" : undefined}
                    style={{ textAlign: numeric ? "right" : undefined, whiteSpace: "nowrap" }}
                  >
                    {header.column.getCanSort() ? (
                      <UnstyledButton
                        onClick={header.column.getToggleSortingHandler()}
                        aria-label={`Sort by ${String(header.column.columnDef.header)}`}
                        fw={700}
                        fz="sm"
                      >
                        {flexRender(header.column.columnDef.header, header.getContext())}
                        {sorted === "asc" ? " ▲" : sorted === "desc" ? " ▼" : ""}
                      </UnstyledButton>
                    ) : (
                      flexRender(header.column.columnDef.header, header.getContext())
                    )}
                  </Table.Th>
                );
              })}
            </Table.Tr>
          ))}
        </Table.Thead>
        <Table.Tbody>
          {table.getRowModel().rows.map((row) => (
            <Table.Tr key={row.id}>
              {row.getVisibleCells().map((cell) => {
                const numeric = (cell.column.columnDef.meta as { numeric?: boolean } | undefined)?.numeric;
                return (
                  <Table.Td key={cell.id} style={{ textAlign: numeric ? "right" : undefined }}>
                    {flexRender(cell.column.columnDef.cell, cell.getContext())}
                  </Table.Td>
                );
              })}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
