// An episode's free-text notes, edited in place and saved with PATCH /api/episodes/{id} (button or Ctrl+Enter).
import { Button, Group, Text, Textarea } from "@mantine/core";
import { useEffect, useState } from "react";

import { api, type EpisodeDetail } from "../../api";

const NOTES_MAX = 10_000;

export function NotesEditor({ episode, onSaved }: { episode: EpisodeDetail; onSaved: (e: EpisodeDetail) => void }) {
  const [text, setText] = useState(episode.notes);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => setText(episode.notes), [episode.id, episode.notes]);
  const changed = text !== episode.notes;

  async function save() {
    setSaving(true);
    setError(null);
    try {
      onSaved(await api<EpisodeDetail>("PATCH", `/api/episodes/${encodeURIComponent(episode.id)}`, { notes: text }));
      setSaved(true);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setSaving(false);
    }
  }

  return (
    <div>
      <Textarea
        label="Notes"
        autosize
        minRows={3}
        maxRows={10}
        maxLength={NOTES_MAX}
        value={text}
        onChange={(e) => {
          setText(e.currentTarget.value);
          setSaved(false);
        }}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && changed) {
            e.preventDefault();
            void save();
          }
        }}
        error={error}
      />
      <Group gap="sm" mt={6}>
        <Button size="xs" onClick={() => void save()} disabled={!changed} loading={saving}>
          Save notes
        </Button>
        {changed && (
          <Button size="xs" variant="subtle" onClick={() => setText(episode.notes)}>
            Discard changes
          </Button>
        )}
        <Text size="xs" c="dimmed" aria-live="polite">
          {saved && !changed ? "Saved" : changed ? "Unsaved changes" : ""}
        </Text>
      </Group>
    </div>
  );
}
