// Tags edited in place: each tag with its remove button, a text box to add one (Enter or the Add button). The tag
// form is checked as the gateway checks it; the gateway's refusals are shown under the box.
import { Badge, Button, CloseButton, Group, TextInput } from "@mantine/core";
import { useState } from "react";

import { tagProblem } from "../episodes/format";

interface Props {
  tags: string[];
  /** "Add tag" / "Add step tag": the text box's label */
  inputLabel: string;
  /** what the tags belong to, for the remove buttons' names ("Remove tag goal from step 12") */
  owner?: string;
  onAdd: (label: string) => Promise<void>;
  onRemove: (label: string) => Promise<void>;
}

export function TagEditor({ tags, inputLabel, owner, onAdd, onRemove }: Props) {
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function run(action: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  async function add() {
    const label = text.trim();
    if (!label) return;
    const problem = tagProblem(label);
    if (problem) {
      setError(problem);
      return;
    }
    await run(async () => {
      await onAdd(label);
      setText("");
    });
  }

  return (
    <div>
      <Group gap={6} mb={tags.length ? 6 : 0} role="list" aria-label={owner ? `Tags of ${owner}` : "Tags"}>
        {tags.map((t) => (
          <Badge
            key={t}
            role="listitem"
            variant="light"
            size="lg"
            tt="none"
            rightSection={
              <CloseButton
                size="xs"
                aria-label={`Remove tag ${t}${owner ? ` from ${owner}` : ""}`}
                disabled={busy}
                onClick={() => void run(() => onRemove(t))}
              />
            }
          >
            {t}
          </Badge>
        ))}
      </Group>
      <Group gap={6} align="flex-start" wrap="nowrap">
        <TextInput
          label={inputLabel}
          placeholder="e.g. goal_reached"
          value={text}
          onChange={(e) => {
            setText(e.currentTarget.value);
            setError(null);
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter") {
              e.preventDefault();
              void add();
            }
          }}
          error={error}
          style={{ flex: 1 }}
          maxLength={64}
        />
        <Button mt={25} variant="default" onClick={() => void add()} loading={busy} disabled={!text.trim()} aria-label={inputLabel.replace(/^Add /, "Add this ")}>
          Add
        </Button>
      </Group>
    </div>
  );
}
