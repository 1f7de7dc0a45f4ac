// Placeholder (web-core is building this view).
import { Title } from "@mantine/core";

export function LivePage() {
  return <Title order={1}>Live view</Title>;
}
