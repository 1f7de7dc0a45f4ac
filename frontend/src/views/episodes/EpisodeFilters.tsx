// The Episodes view's filter bar: the API's server-side filters (state, environment, participant, tags; under "More
// filters" reward, start date, study version). Applied with "Apply filters" or Enter; "Clear filters" resets them.
import { Button, Collapse, Group, MultiSelect, Select, TagsInput, TextInput } from "@mantine/core";
import { useEffect, useState } from "react";

import type { EpisodeState } from "../../api";
import { EMPTY_QUERY, type EpisodeQuery, STATES, isEmpty } from "./query";

interface Props {
  value: EpisodeQuery;
  environments: { value: string; label: string }[];
  onChange: (q: EpisodeQuery) => void;
}

export function EpisodeFilters({ value, environments, onChange }: Props) {
  const [draft, setDraft] = useState<EpisodeQuery>(value);
  const moreSet = Boolean(value.minReward || value.maxReward || value.startedAfter || value.startedBefore || value.version);
  const [more, setMore] = useState(moreSet);
  useEffect(() => {
    if (moreSet) setMore(true);
  }, [moreSet]);
  useEffect(() => setDraft(value), [value]);
  const set = <K extends keyof EpisodeQuery>(key: K, v: EpisodeQuery[K]) => setDraft((d) => ({ ...d, [key]: v }));
  const rewardProblem = (text: string) =>
    text.trim() && !Number.isFinite(Number(text)) ? `Expected a number, got ${JSON.stringify(text)}` : null;
  const versionProblem = (text: string) =>
    text.trim() && !/^\d+$/.test(text.trim()) ? `Expected a version number, got ${JSON.stringify(text)}` : null;

  return (
    <form
      aria-label="Filter episodes"
      onSubmit={(e) => {
        e.preventDefault();
        const bad = rewardProblem(draft.minReward) || rewardProblem(draft.maxReward) || versionProblem(draft.version);
        if (bad) setMore(true);
        else onChange(draft);
      }}
    >
      <Group align="flex-end" gap="sm" wrap="wrap">
        <MultiSelect
          label="State"
          placeholder={draft.states.length ? undefined : "any"}
          data={STATES}
          value={draft.states}
          onChange={(v) => set("states", v as EpisodeState[])}
          clearable
          w={190}
          comboboxProps={{ withinPortal: true }}
        />
        <Select
          label="Environment"
          placeholder="any"
          data={environments}
          value={draft.env}
          onChange={(v) => set("env", v)}
          clearable
          w={190}
        />
        <TextInput
          label="Participant"
          placeholder="participant id"
          value={draft.participant}
          onChange={(e) => set("participant", e.currentTarget.value)}
          w={150}
        />
        <TagsInput
          label="Tags"
          placeholder={draft.tags.length ? undefined : "all of these"}
          value={draft.tags}
          onChange={(v) => set("tags", v)}
          w={170}
          maxTags={20}
        />
        <Button
          variant="subtle"
          onClick={() => setMore((m) => !m)}
          aria-expanded={more}
          aria-controls="more-episode-filters"
        >
          {more ? "Fewer filters" : "More filters"}
        </Button>
        <Button type="submit">Apply filters</Button>
        <Button
          variant="default"
          disabled={isEmpty(value) && isEmpty(draft)}
          onClick={() => {
            setDraft(EMPTY_QUERY);
            setMore(false);
            onChange(EMPTY_QUERY);
          }}
        >
          Clear filters
        </Button>
      </Group>
      <Collapse in={more} id="more-episode-filters">
        <Group align="flex-start" gap="sm" wrap="wrap" mt="sm">
          <TextInput
            label="Min reward"
            inputMode="decimal"
            value={draft.minReward}
            onChange={(e) => set("minReward", e.currentTarget.value)}
            error={rewardProblem(draft.minReward)}
            w={100}
          />
          <TextInput
            label="Max reward"
            inputMode="decimal"
            value={draft.maxReward}
            onChange={(e) => set("maxReward", e.currentTarget.value)}
            error={rewardProblem(draft.maxReward)}
            w={100}
          />
          <TextInput
            label="Started from"
            type="date"
            value={draft.startedAfter}
            onChange={(e) => set("startedAfter", e.currentTarget.value)}
            w={150}
          />
          <TextInput
            label="Started until"
            type="date"
            value={draft.startedBefore}
            onChange={(e) => set("startedBefore", e.currentTarget.value)}
            w={150}
          />
          <TextInput
            label="Study version"
            inputMode="numeric"
            value={draft.version}
            onChange={(e) => set("version", e.currentTarget.value)}
            error={versionProblem(draft.version)}
            w={110}
          />
        </Group>
      </Collapse>
    </form>
  );
}
