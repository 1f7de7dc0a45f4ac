// Placeholder (web-core is building this view).
import { Title } from "@mantine/core";

export function PlayerPage() {
  return <Title order={1}>Player</Title>;
}
