// Placeholder (web-core is building this view).
import { Title } from "@mantine/core";

export function StudiesPage() {
  return <Title order={1}>Studies</Title>;
}
