// An episode's thumbnail (the JPEG shown at its middle step, GET /api/episodes/{id}/thumbnail.jpg), or a grey
// placeholder when it has no stored image yet (no steps, still recording, or the gateway answers 404).
import { Box, Text } from "@mantine/core";
import { useState } from "react";

import type { EpisodeOut } from "../api";

export function EpisodeThumbnail({ episode, size = 56 }: { episode: EpisodeOut; size?: number }) {
  const [failed, setFailed] = useState(false);
  const box = { width: size, height: size, borderRadius: 4, flex: "none" } as const;
  if (failed || episode.num_steps === 0 || episode.state === "recording") {
    return (
      <Box
        style={{
          ...box,
          display: "flex",
          alignItems: "center",
          justifyContent: "center",
          border: "1px dashed var(--mantine-color-default-border)",
        }}
        role="img"
        aria-label="No image"
      >
        <Text size="xs" c="dimmed">
          —
        </Text>
      </Box>
    );
  }
  return (
    <img
      src={`/api/episodes/${encodeURIComponent(episode.id)}/thumbnail.jpg`}
      alt={`Frame of episode ${episode.id.slice(0, 8)}`}
      loading="lazy"
      width={size}
      height={size}
      style={{ ...box, objectFit: "contain", background: "black", imageRendering: "pixelated" }}
      onError={() => setFailed(true)}
    />
  );
}
