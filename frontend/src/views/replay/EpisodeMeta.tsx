// The episode's metadata beside the replay: environment, state and why it ended, participant, session, seed,
// length, reward, times and the study version it was played with.
import { Badge, Table } from "@mantine/core";

import type { EpisodeDetail } from "../../api";
import { STATE_COLORS, formatDate, formatDuration, formatReward } from "../episodes/format";

export function EpisodeMeta({ episode }: { episode: EpisodeDetail }) {
  const rows: [string, React.ReactNode][] = [
    ["Environment", episode.env === episode.env_id ? episode.env : `${episode.env} (${episode.env_id})`],
    [
      "State",
      <Badge key="s" color={STATE_COLORS[episode.state] ?? "gray"} variant="light">
        {episode.state}
      </Badge>,
    ],
    ["End reason", episode.end_reason ?? "—"],
    ["Steps", episode.num_steps.toLocaleString()],
    ["Total reward", formatReward(episode.total_reward)],
    ["Started", formatDate(episode.started_at)],
    ["Ended", formatDate(episode.ended_at)],
    ["Duration", formatDuration(episode.duration_s)],
    ["Active time", formatDuration(episode.active_s)],
    ["Participant", episode.participant_id],
    ["Session", episode.session_id],
    ["Seed", String(episode.seed)],
  ];
  if (episode.study_version !== undefined && episode.study_version !== null) {
    rows.push(["Study version", `v${episode.study_version}`]);
  }
  rows.push(["Episode id", episode.id]);
  return (
    <Table aria-label="Episode metadata" verticalSpacing={3} fz="sm" layout="fixed">
      <Table.Tbody>
        {rows.map(([k, v]) => (
          <Table.Tr key={k}>
            <Table.Th w={110} fw={600}>
              {k}
            </Table.Th>
            <Table.Td style={{ overflowWrap: "anywhere" }}>{v}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
