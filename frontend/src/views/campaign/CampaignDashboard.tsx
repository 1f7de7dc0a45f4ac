// A campaign's dashboard (/campaigns/:id): arrived, active and completed participants now and over time (uPlot),
// each condition's fill against its quota, the spread of a statistic, and the participants; live from the
// server-sent event stream GET /api/campaigns/:id/dashboard/stream.
import "uplot/dist/uPlot.min.css";

import { Card, Grid, Group, Progress, Stack, Table, Text, Title } from "@mantine/core";
import { useEffect, useRef, useState } from "react";
import { useParams } from "react-router-dom";
import uPlot from "uplot";

import { api } from "../../api";
import { ErrorAlert } from "../../components/ErrorAlert";
import { usePageTitle } from "../../usePageTitle";
import type { CampaignOut } from "./CampaignsPanel";
import { campaignUrl } from "./CampaignsPanel";

interface Board {
  arrived: number; active: number; completed: number; live_players: number;
  timeline: { t: string; arrived: number; completed: number }[];
  conditions: { id: string; environment: string | null; experiment?: string | null; unit: string; target: number; filled: number; reserved: number;
    full: boolean }[];
  histograms: Record<string, number[]>;
}
interface Participant { participant_id: string; condition: string | null; stage: string; completion: number;
  bonus: number | null }

function Timeline({ board }: { board: Board }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current || board.timeline.length === 0) return;
    const last = Date.parse(board.timeline[board.timeline.length - 1].t);
    const xs = board.timeline.map((p) => (Date.parse(p.t) - last) / 60000); // minutes before the latest point
    const plot = new uPlot({
      width: Math.max(el.current.clientWidth, 300), height: 200, legend: { show: true },
      // at least the last ten minutes
      scales: { x: { time: false, range: (_u, lo) => [Math.min(lo ?? 0, -10), 0] } },
      series: [{}, { label: "Arrived", stroke: "#1c7ed6", width: 2 }, { label: "Completed", stroke: "#2f9e44", width: 2 }],
      axes: [{ label: "Minutes ago", labelSize: 16 }, { label: "Participants", labelSize: 16 }],
    }, [xs, board.timeline.map((p) => p.arrived), board.timeline.map((p) => p.completed)], el.current);
    return () => plot.destroy();
  }, [board]);
  return <div ref={el} aria-label="Participants over time" />;
}

function Histogram({ name, values }: { name: string; values: number[] }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current || values.length === 0) return;
    const lo = Math.min(...values), hi = Math.max(...values), bins = 10, width = (hi - lo) / bins || 1;
    const counts = new Array(bins).fill(0);
    for (const v of values) counts[Math.min(bins - 1, Math.floor((v - lo) / width))] += 1;
    const plot = new uPlot({
      width: Math.max(el.current.clientWidth, 240), height: 140, legend: { show: false },
      scales: { x: { time: false } },
      series: [{}, { label: name, stroke: "#e8590c", fill: "#e8590c55", paths: uPlot.paths.bars?.({ size: [0.9] }) }],
      axes: [{ label: name, labelSize: 16 }, { label: "Participants", labelSize: 16 }],
    }, [counts.map((_, i) => lo + (i + 0.5) * width), counts], el.current);
    return () => plot.destroy();
  }, [name, values]);
  return <div ref={el} aria-label={`Histogram of ${name}`} />;
}

export function CampaignDashboard() {
  const { id = "" } = useParams();
  const [campaign, setCampaign] = useState<CampaignOut | null>(null);
  const [board, setBoard] = useState<Board | null>(null);
  const [people, setPeople] = useState<Participant[]>([]);
  const [error, setError] = useState<Error | null>(null);
  usePageTitle(campaign ? `${campaign.name}: dashboard` : "Campaign");

  useEffect(() => {
    api<CampaignOut>("GET", `/api/campaigns/${id}`).then(setCampaign).catch(setError);
    const stream = new EventSource(`/api/campaigns/${id}/dashboard/stream`);
    stream.addEventListener("dashboard", (e) => setBoard(JSON.parse((e as MessageEvent).data)));
    return () => stream.close();
  }, [id]);
  const arrived = board?.arrived;
  useEffect(() => {
    if (arrived === undefined) return;
    api<Participant[]>("GET", `/api/campaigns/${id}/participants`).then(setPeople).catch(() => undefined);
  }, [id, arrived, board?.completed]);

  if (error) return <ErrorAlert error={error} />;
  return (
    <Stack>
      <Title order={1}>{campaign?.name ?? "Campaign"}</Title>
      {campaign && <Text size="sm" c="dimmed">{campaign.channel} · {campaignUrl(campaign)}</Text>}
      {board && (
        <>
          <Group gap="xl">
            <Text>Arrived <b aria-label="Arrived">{board.arrived}</b></Text>
            <Text>Active <b aria-label="Active">{board.active}</b></Text>
            <Text>Completed <b aria-label="Completed">{board.completed}</b></Text>
            <Text>Playing now <b aria-label="Playing now">{board.live_players}</b></Text>
          </Group>
          <Grid>
            <Grid.Col span={{ base: 12, md: 7 }}>
              <Card withBorder><Title order={3}>Over time</Title><Timeline board={board} /></Card>
            </Grid.Col>
            <Grid.Col span={{ base: 12, md: 5 }}>
              <Card withBorder component="section" aria-label="Conditions">
                <Title order={3}>Conditions</Title>
                {board.conditions.map((c) => (
                  <div key={c.id}>
                    <Text size="sm">{c.id} ({c.environment ?? `labels ${c.experiment}`}): {c.filled} of {c.target} {c.unit}
                      {c.reserved ? `, ${c.reserved} playing` : ""}{c.full ? " (full)" : ""}</Text>
                    <Progress value={(100 * c.filled) / c.target} aria-label={`Fill of ${c.id}`} />
                  </div>
                ))}
              </Card>
            </Grid.Col>
          </Grid>
          <Group grow align="flex-start">
            {Object.entries(board.histograms).filter(([, v]) => v.length > 0).map(([name, values]) => (
              <Card withBorder key={name}><Histogram name={name} values={values} /></Card>
            ))}
          </Group>
        </>
      )}
      <Table aria-label="Participants" striped>
        <Table.Thead><Table.Tr><Table.Th>Participant</Table.Th><Table.Th>Condition</Table.Th><Table.Th>Stage</Table.Th>
          <Table.Th>Completion</Table.Th><Table.Th>Bonus</Table.Th></Table.Tr></Table.Thead>
        <Table.Tbody>
          {people.map((p) => (
            <Table.Tr key={p.participant_id}>
              <Table.Td>{p.participant_id.slice(0, 8)}</Table.Td><Table.Td>{p.condition ?? ""}</Table.Td>
              <Table.Td>{p.stage}</Table.Td><Table.Td>{Math.round(p.completion * 100)}%</Table.Td>
              <Table.Td>{p.bonus === null ? "" : p.bonus.toFixed(2)}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}
