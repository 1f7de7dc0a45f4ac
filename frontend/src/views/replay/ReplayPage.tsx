// Placeholder: an episode's replay (web-data replaces this view).
import { Title } from "@mantine/core";

export function ReplayPage() {
  return <Title order={1}>Replay</Title>;
}
