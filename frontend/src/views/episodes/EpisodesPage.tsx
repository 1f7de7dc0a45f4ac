// Placeholder: the study's episodes (web-data replaces this view).
import { Title } from "@mantine/core";

export function EpisodesPage() {
  return <Title order={1}>Episodes</Title>;
}
