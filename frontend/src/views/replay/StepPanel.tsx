// What was recorded at the current step: reward, discount and flags, when it happened, the participant's raw input,
// the action the environment got, a summary of each observation leaf and the environment's info.
import { Badge, Code, Group, Loader, Stack, Table, Text, Title } from "@mantine/core";

import { formatReward } from "../episodes/format";
import { type StepRow, describeInput } from "./steps";

function json(v: unknown): string {
  const text = JSON.stringify(v, null, 1) ?? "null";
  return text.length > 4000 ? `${text.slice(0, 4000)}…` : text;
}

function num(v: number | null | undefined): string {
  if (v === null || v === undefined) return "—";
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}

export function StepPanel({ row, startTime, leafNames }: { row: StepRow | undefined; startTime: number | null; leafNames: string[] }) {
  if (!row) {
    return (
      <Group gap="xs">
        <Loader size="xs" />
        <Text size="sm" c="dimmed">
          Loading the step…
        </Text>
      </Group>
    );
  }
  const names = leafNames.length === row.observation.length ? leafNames : row.observation.map((_, i) => `#${i}`);
  return (
    <Stack gap="xs" aria-label={`Step ${row.index}`} role="region">
      <Group gap="xs">
        <Text size="sm">
          <b>Reward</b> {formatReward(row.reward)}
        </Text>
        <Text size="sm">
          <b>Discount</b> {num(row.discount)}
        </Text>
        {startTime !== null && (
          <Text size="sm">
            <b>Time</b> +{(row.time - startTime).toFixed(2)} s
          </Text>
        )}
        {row.is_first && <Badge size="sm">first</Badge>}
        {row.is_last && <Badge size="sm" color="grape">last</Badge>}
        {row.is_terminal && <Badge size="sm" color="red">terminal</Badge>}
      </Group>
      <div>
        <Title order={4} size="sm">
          Input
        </Title>
        <Text size="sm">{describeInput(row.input)}</Text>
        <Code block aria-label="Raw input">
          {json(row.input)}
        </Code>
      </div>
      <div>
        <Title order={4} size="sm">
          Action
        </Title>
        <Code block aria-label="Action">
          {json(row.action)}
        </Code>
      </div>
      <div>
        <Title order={4} size="sm">
          Observation
        </Title>
        <Table.ScrollContainer minWidth={420}>
          <Table aria-label="Observation summary" fz="xs" verticalSpacing={2}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Leaf</Table.Th>
                <Table.Th>dtype</Table.Th>
                <Table.Th>shape</Table.Th>
                <Table.Th>min</Table.Th>
                <Table.Th>max</Table.Th>
                <Table.Th>mean</Table.Th>
                <Table.Th>sha256</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {row.observation.map((leaf, i) => {
                const extra = Object.entries(leaf).filter(
                  ([k]) => !["dtype", "shape", "min", "max", "mean", "sha256"].includes(k),
                );
                return (
                  <Table.Tr key={i}>
                    <Table.Td>{names[i] || "(value)"}</Table.Td>
                    <Table.Td>{leaf.dtype}</Table.Td>
                    <Table.Td>[{leaf.shape.join(", ")}]</Table.Td>
                    <Table.Td>{num(leaf.min)}</Table.Td>
                    <Table.Td>{num(leaf.max)}</Table.Td>
                    <Table.Td>{num(leaf.mean)}</Table.Td>
                    <Table.Td ff="monospace" title={leaf.sha256}>
                      {leaf.sha256?.slice(0, 12) ?? "—"}
                      {extra.map(([k, v]) => (
                        <div key={k}>
                          {k}: {typeof v === "string" ? v : json(v)}
                        </div>
                      ))}
                    </Table.Td>
                  </Table.Tr>
                );
              })}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      </div>
      {Object.keys(row.info ?? {}).length > 0 && (
        <div>
          <Title order={4} size="sm">
            Info
          </Title>
          <Code block aria-label="Info">
            {json(row.info)}
          </Code>
        </div>
      )}
    </Stack>
  );
}
