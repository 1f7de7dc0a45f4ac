// Replay (/episodes/:id): the frame the participant saw at the current step, a step counter, buttons and a
// scrubber (Left/Right move a step, Shift+Left/Right ten, Home/End to the ends) with reward, input and action
// plotted along it; the step's raw input, action, reward and observation summary; the episode's metadata, and its
// tags, notes and step tags edited in place. The current step is kept in the URL (?step=N).
import { Anchor, Box, Button, Grid, Group, Loader, Paper, Slider, Stack, Text, Title, Tooltip } from "@mantine/core";
import { useCallback, useEffect, useMemo, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";

import { api, type EpisodeDetail } from "../../api";
import { ErrorAlert } from "../../components/ErrorAlert";
import { StudyCrumbs } from "../../components/StudyCrumbs";
import { usePageTitle } from "../../usePageTitle";
import { shortId } from "../episodes/format";
import { useStudy } from "../episodes/useStudy";
import { EpisodeMeta } from "./EpisodeMeta";
import { NotesEditor } from "./NotesEditor";
import { ReplayPlot } from "./ReplayPlot";
import { StepPanel } from "./StepPanel";
import { TagEditor } from "./TagEditor";
import { actionSeries, inputAmount, leafNames } from "./steps";
import { useFrame } from "./useFrame";
import { useStepRows } from "./useStepRows";

function editable(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

export function ReplayPage() {
  const { id = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const [episode, setEpisode] = useState<EpisodeDetail | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [stepTags, setStepTags] = useState<Record<number, string[]>>({});
  const study = useStudy(episode?.study_id ?? "");
  usePageTitle(`Replay of episode ${shortId(id)}`);

  useEffect(() => {
    const ctl = new AbortController();
    setEpisode(null);
    setError(null);
    api<EpisodeDetail>("GET", `/api/episodes/${encodeURIComponent(id)}`, undefined, { signal: ctl.signal })
      .then((e) => {
        setEpisode(e);
        const tags: Record<number, string[]> = {};
        e.step_tags.forEach((t) => (tags[t.step] ??= []).push(t.label));
        setStepTags(tags);
      })
      .catch((e) => {
        if ((e as Error).name !== "AbortError") setError(e);
      });
    return () => ctl.abort();
  }, [id]);

  const steps = useStepRows(id, episode ? episode.num_steps : null);
  const total = Math.max(episode?.num_steps ?? 0, steps.rows.length);
  const last = Math.max(total - 1, 0);
  // the step lives in state (key repeats add up before a render) and is mirrored into the URL
  const [wanted, setWanted] = useState(() => {
    const n = Number(params.get("step") ?? 0);
    return Number.isInteger(n) && n > 0 ? n : 0;
  });
  const step = Math.min(wanted, last);
  const frame = useFrame(id, step, total);

  useEffect(() => {
    if (!episode || params.get("step") === String(step)) return;
    setParams(
      (p) => {
        const q = new URLSearchParams(p);
        q.set("step", String(step));
        return q;
      },
      { replace: true },
    );
  }, [episode, step, params, setParams]);

  const go = useCallback(
    (to: number | ((current: number) => number)) =>
      setWanted((w) => {
        const from = Math.min(w, last);
        const next = typeof to === "function" ? to(from) : to;
        return Math.min(Math.max(Math.round(next), 0), last);
      }),
    [last],
  );

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || editable(e.target) || e.altKey || e.ctrlKey || e.metaKey) return;
      const by = e.shiftKey ? 10 : 1;
      if (e.key === "ArrowLeft") go((s) => s - by);
      else if (e.key === "ArrowRight") go((s) => s + by);
      else if (e.key === "Home") go(0);
      else if (e.key === "End") go(last);
      else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [go, last]);

  const series = useMemo(() => {
    const action = actionSeries(episode?.action_spec ?? {});
    return {
      steps: steps.rows.map((r) => r.index),
      reward: steps.rows.map((r) => r.reward),
      input: steps.rows.map((r) => inputAmount(r.input ?? {})),
      action: steps.rows.map((r) => action.value(r.action)),
      actionLabel: action.label,
    };
  }, [steps.rows, episode?.action_spec]);
  const [plotArea, setPlotArea] = useState<{ left: number; width: number } | null>(null);
  const names = useMemo(() => leafNames(episode?.observation_spec ?? {}), [episode?.observation_spec]);
  const tagged = useMemo(() => Object.keys(stepTags).map(Number).filter((s) => stepTags[s]?.length).sort((a, b) => a - b), [stepTags]);

  if (error) return <ErrorAlert error={error} title="Could not load the episode" />;
  if (!episode) {
    return (
      <Group justify="center" p="xl">
        <Loader aria-label="Loading the episode" />
      </Group>
    );
  }

  const base = `/api/episodes/${encodeURIComponent(episode.id)}`;
  const row = steps.rows[step];
  const startTime = steps.rows[0]?.time ?? null;

  async function addEpisodeTag(label: string) {
    const out = await api<{ tags: string[] }>("PUT", `${base}/tags/${encodeURIComponent(label)}`);
    setEpisode((e) => (e ? { ...e, tags: out.tags } : e));
  }
  async function removeEpisodeTag(label: string) {
    const out = await api<{ tags: string[] }>("DELETE", `${base}/tags/${encodeURIComponent(label)}`);
    setEpisode((e) => (e ? { ...e, tags: out.tags } : e));
  }
  async function addStepTag(label: string) {
    const out = await api<{ step: number; tags: string[] }>("PUT", `${base}/steps/${step}/tags/${encodeURIComponent(label)}`);
    setStepTags((t) => ({ ...t, [out.step]: out.tags }));
  }
  async function removeStepTag(label: string) {
    const out = await api<{ step: number; tags: string[] }>("DELETE", `${base}/steps/${step}/tags/${encodeURIComponent(label)}`);
    setStepTags((t) => ({ ...t, [out.step]: out.tags }));
  }

  const nav = (label: string, text: string, to: (s: number) => number, disabled: boolean, hint: string) => (
    <Tooltip label={hint} openDelay={500}>
      <Button variant="default" size="sm" aria-label={label} onClick={() => go(to)} disabled={disabled}>
        {text}
      </Button>
    </Tooltip>
  );

  return (
    <Stack gap="md">
      <StudyCrumbs studyId={episode.study_id} name={study.data?.name}>
        <Anchor component={Link} to={`/studies/${episode.study_id}/episodes`}>
          Episodes
        </Anchor>
        <Text>Episode {shortId(episode.id)}</Text>
      </StudyCrumbs>
      <Title order={1}>Replay of episode {shortId(episode.id)}</Title>
      <Grid gutter="lg">
        <Grid.Col span={{ base: 12, md: 8 }}>
          <Stack gap="sm">
            <Paper withBorder p="xs" bg="black">
              <Box style={{ height: "min(52vh, 520px)", display: "flex", alignItems: "center", justifyContent: "center" }}>
                {frame.src ? (
                  <img
                    src={frame.src}
                    alt={`Frame shown at step ${frame.step ?? step}`}
                    style={{ maxWidth: "100%", maxHeight: "100%", width: "auto", height: "100%", objectFit: "contain", imageRendering: "pixelated" }}
                  />
                ) : total === 0 ? (
                  <Text c="gray.5">This episode has no stored steps.</Text>
                ) : frame.loading ? (
                  <Loader color="gray" aria-label="Loading the frame" />
                ) : (
                  <Text c="gray.5">No image was stored for step {step}.</Text>
                )}
              </Box>
            </Paper>
            <ErrorAlert error={frame.error} title="Could not load the frames" />
            <Group justify="center" gap="xs">
              {nav("First step", "First", () => 0, step === 0, "Home")}
              {nav("Back 10 steps", "−10", (s) => s - 10, step === 0, "Shift+Left")}
              {nav("Previous step", "◀ Previous", (s) => s - 1, step === 0, "Left")}
              <Text fw={600} miw={150} ta="center" role="status" aria-label="Step counter" aria-live="off">
                Step {total ? step : "—"} / {total ? last : "—"}
              </Text>
              {nav("Next step", "Next ▶", (s) => s + 1, step >= last, "Right")}
              {nav("Forward 10 steps", "+10", (s) => s + 10, step >= last, "Shift+Right")}
              {nav("Last step", "Last", () => last, step >= last, "End")}
            </Group>
            {steps.rows.length > 0 && (
              <ReplayPlot
                steps={series.steps}
                reward={series.reward}
                input={series.input}
                action={series.action}
                actionLabel={series.actionLabel}
                current={step}
                tagged={tagged}
                onSeek={go}
                onLayout={setPlotArea}
              />
            )}
            <Box
              ml={plotArea ? plotArea.left - 8 : 4}
              w={plotArea ? plotArea.width + 16 : undefined}
              px={8}
              onKeyDownCapture={(e) => {
                // the slider's own arrow keys move by one; Shift moves by ten here as everywhere in the replay
                if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
                  e.preventDefault();
                  e.stopPropagation();
                  const by = e.shiftKey ? 10 : 1;
                  go((s) => s + (e.key === "ArrowLeft" ? -by : by));
                }
              }}
            >
              <Slider
                min={0}
                max={Math.max(last, 1)}
                step={1}
                value={step}
                onChange={go}
                disabled={total <= 1}
                thumbLabel="Step"
                label={(v) => `Step ${v}`}
              />
            </Box>
            {!steps.done && !steps.error && (
              <Text size="xs" c="dimmed">
                Reading the steps… {steps.rows.length.toLocaleString()} of {total.toLocaleString()}
              </Text>
            )}
            <ErrorAlert error={steps.error} title="Could not read the steps" />
            <Paper withBorder p="sm">
              <Stack gap="sm">
                <Title order={2} size="h4">
                  Step {step}
                </Title>
                <StepPanel row={row} startTime={startTime} leafNames={names} />
                {total > 0 && (
                  <TagEditor
                    tags={stepTags[step] ?? []}
                    inputLabel="Add step tag"
                    owner={`step ${step}`}
                    onAdd={addStepTag}
                    onRemove={removeStepTag}
                  />
                )}
              </Stack>
            </Paper>
          </Stack>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 4 }}>
          <Stack gap="md">
            <Paper withBorder p="sm">
              <Title order={2} size="h4" mb="xs">
                Episode
              </Title>
              <EpisodeMeta episode={episode} />
            </Paper>
            <Paper withBorder p="sm">
              <Title order={2} size="h4" mb="xs">
                Tags
              </Title>
              <TagEditor
                tags={episode.tags}
                inputLabel="Add tag"
                owner="the episode"
                onAdd={addEpisodeTag}
                onRemove={removeEpisodeTag}
              />
            </Paper>
            <Paper withBorder p="sm">
              <NotesEditor episode={episode} onSaved={(e) => setEpisode((prev) => (prev ? { ...prev, notes: e.notes } : e))} />
            </Paper>
            <Paper withBorder p="sm">
              <Title order={2} size="h4" mb="xs">
                Tagged steps
              </Title>
              {tagged.length ? (
                <Group gap={6}>
                  {tagged.map((s) => (
                    <Button
                      key={s}
                      size="compact-sm"
                      variant={s === step ? "filled" : "light"}
                      onClick={() => go(s)}
                      aria-label={`Go to step ${s} (${stepTags[s].join(", ")})`}
                    >
                      {s}: {stepTags[s].join(", ")}
                    </Button>
                  ))}
                </Group>
              ) : (
                <Text size="sm" c="dimmed">
                  No step is tagged yet.
                </Text>
              )}
            </Paper>
          </Stack>
        </Grid.Col>
      </Grid>
    </Stack>
  );
}
