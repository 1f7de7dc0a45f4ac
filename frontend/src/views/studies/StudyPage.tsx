// Placeholder (web-core is building this view).
import { Title } from "@mantine/core";

export function StudyPage() {
  return <Title order={1}>Study</Title>;
}
