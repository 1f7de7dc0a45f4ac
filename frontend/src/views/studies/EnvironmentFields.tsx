// One environment of the study form: id, Gymnasium id, family, kwargs, wrappers, mode, fps, steps, input map (with
// the family's default as a hint), render options, instructions, timings; its preview frame and what the trial
// found; whether participants may pick it.
import {
  ActionIcon, Badge, Button, Card, Collapse, Grid, Group, Image, NativeSelect, NumberInput, SegmentedControl,
  Stack, Switch, Text, TextInput, Textarea, Title,
} from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { useState } from "react";

import type { StepCost, TrialReply } from "../../api";
import { fieldError, fieldWarning } from "./FieldProblems";
import { FAMILY_HINTS, familyOf, problemsAt, withFamilyDefaults, type EnvForm, type Problem } from "./specForm";

const FAMILIES = [
  { value: "auto", label: "auto (from the id)" },
  { value: "atari", label: "atari" },
  { value: "procgen", label: "procgen" },
  { value: "mujoco", label: "mujoco" },
  { value: "gymnasium", label: "gymnasium" },
  { value: "pettingzoo", label: "pettingzoo (multi-agent)" },
  { value: "robosuite", label: "robosuite (robot arms)" },
  { value: "robodesk", label: "robodesk" },
  { value: "nethack", label: "nethack (NLE)" },
];

function num(v: string | number, fallback: number): number {
  const n = typeof v === "number" ? v : Number(v);
  return Number.isFinite(n) ? n : fallback;
}

function optionalNum(v: string | number): number | "" {
  return v === "" ? "" : num(v, 0);
}

export interface EnvironmentFieldsProps {
  env: EnvForm;
  index: number;
  problems: Problem[];
  /** the trial's warnings (the study works, but not as its spec asks), at their fields like problems */
  warnings: Problem[];
  trial: TrialReply | undefined;
  /** the saved study's preview of this environment (GET .../preview.jpg), when it has one */
  savedPreview: string | null;
  /** null: not a saved environment of the study (no enable switch) */
  enabled: boolean | null;
  canRemove: boolean;
  onChange(env: EnvForm): void;
  onRemove(): void;
  onSuggest(problem: Problem, suggestion: string): void;
  onToggleEnabled(enabled: boolean): void;
}

export function EnvironmentFields(props: EnvironmentFieldsProps) {
  const { env, index, problems, warnings, trial, onChange, onSuggest } = props;
  const base = `environments.${index}`;
  const [advanced, { toggle }] = useDisclosure(false);
  const [previewFailed, setPreviewFailed] = useState(false);
  // a new family (NetHack, RoboDesk) brings its mode, fps and step_while_held unless the designer chose them
  const set = <K extends keyof EnvForm>(key: K, value: EnvForm[K]) =>
    onChange(withFamilyDefaults(env, { ...env, [key]: value }));
  const err = (field: string) => fieldError(problemsAt(problems, `${base}.${field}`), `${base}.${field}`, onSuggest);
  const warn = (field: string) => fieldWarning(problemsAt(warnings, `${base}.${field}`), `${base}.${field}`, onSuggest);
  const warned = trial?.ok ? (trial.warnings ?? []).length : 0;
  const label = env.id || `environment ${index + 1}`;
  const family = familyOf(env);
  const preview = trial?.preview_jpeg ? `data:image/jpeg;base64,${trial.preview_jpeg}` : props.savedPreview;
  const renderErrors = problemsAt(problems, `${base}.render`);
  const advancedHasProblems = ["render", "idle_pause_s", "pause_expiry_s", "step_while_held"]
    .some((f) => problemsAt(problems, `${base}.${f}`).length > 0);

  return (
    <Card withBorder padding="md" component="fieldset" aria-label={`Environment ${label}`} className="pc-env">
      <Group justify="space-between" mb="sm">
        <Group gap="xs">
          <Title order={3} size="h4">
            {label}
          </Title>
          {trial && (
            <Badge color={!trial.ok ? "red" : warned ? "yellow" : "green"} variant="light">
              {!trial.ok ? `tried: ${trial.problems.length} problem${trial.problems.length === 1 ? "" : "s"}`
                : warned ? `tried: works, ${warned} warning${warned === 1 ? "" : "s"}` : "tried: works"}
            </Badge>
          )}
          {props.enabled === false && <Badge color="gray">disabled</Badge>}
        </Group>
        <Group gap="xs">
          {props.enabled !== null && (
            <Switch
              label="Participants can pick it"
              checked={props.enabled}
              onChange={(e) => props.onToggleEnabled(e.currentTarget.checked)}
            />
          )}
          <Button
            variant="subtle"
            color="red"
            size="compact-sm"
            disabled={!props.canRemove}
            onClick={props.onRemove}
            aria-label={`Remove environment ${label}`}
          >
            Remove
          </Button>
        </Group>
      </Group>

      <Grid gutter="md">
        <Grid.Col span={{ base: 12, md: preview && !previewFailed ? 7 : 12 }}>
        <Stack gap="sm">
          <Group grow align="flex-start">
            <TextInput label="Environment key" description="how participants and the CLI pick it" required value={env.id}
              onChange={(e) => set("id", e.currentTarget.value)} error={err("id")} />
            <TextInput label="Gymnasium id" description="e.g. ALE/Pong-v5, procgen/coinrun, MiniGrid-Empty-5x5-v0"
              required value={env.env_id} onChange={(e) => set("env_id", e.currentTarget.value)} error={err("env_id")} />
          </Group>
          <Group grow align="flex-start">
            <NativeSelect label="Family" data={FAMILIES} value={env.family}
              onChange={(e) => set("family", e.currentTarget.value as EnvForm["family"])} error={err("family")} />
            <div>
              <Text size="sm" fw={500} id={`${env.key}-mode`}>Mode</Text>
              <SegmentedControl
                aria-labelledby={`${env.key}-mode`}
                fullWidth
                value={env.mode}
                onChange={(v) => set("mode", v as EnvForm["mode"])}
                data={[{ value: "realtime", label: "Realtime" }, { value: "turn_based", label: "Turn-based" }]}
              />
              {err("mode") && <Text c="red" size="xs">{err("mode")}</Text>}
            </div>
          </Group>
          <Group grow align="flex-start">
            <div>
              <NumberInput label="Steps per second (fps)" min={1} max={60} value={env.fps}
                onChange={(v) => set("fps", num(v, 15))} error={err("fps")} />
              {warn("fps")}
            </div>
            <NumberInput label="Max steps per episode" description="empty: the environment decides" min={1}
              value={env.max_episode_steps} onChange={(v) => set("max_episode_steps", optionalNum(v))}
              error={err("max_episode_steps")} allowDecimal={false} />
          </Group>
          <Textarea label="Keyword arguments (kwargs)" description="JSON or YAML for gymnasium.make, e.g. {frameskip: 4}"
            autosize minRows={1} maxRows={8} value={env.kwargs} spellCheck={false} classNames={{ input: "pc-mono" }}
            onChange={(e) => set("kwargs", e.currentTarget.value)} error={err("kwargs")} />
          <Stack gap={4}>
            <Text size="sm" fw={500}>Wrappers</Text>
            <Text size="xs" c="dimmed">
              Applied in order after gymnasium.make: a gymnasium.wrappers class (FlattenObservation), or
              module:Class of an allowed module (minigrid.wrappers:ImgObsWrapper).
            </Text>
            {env.wrappers.map((w, j) => (
              <Group key={j} align="flex-start" grow wrap="nowrap">
                <TextInput label={`Wrapper ${j + 1} name`} value={w.name}
                  onChange={(e) => set("wrappers", env.wrappers.map((x, k) => (k === j ? { ...x, name: e.currentTarget.value } : x)))}
                  error={err(`wrappers.${j}.name`)} />
                <TextInput label={`Wrapper ${j + 1} kwargs`} placeholder="{}" value={w.kwargs} classNames={{ input: "pc-mono" }}
                  onChange={(e) => set("wrappers", env.wrappers.map((x, k) => (k === j ? { ...x, kwargs: e.currentTarget.value } : x)))}
                  error={err(`wrappers.${j}.kwargs`)} />
                <ActionIcon variant="subtle" color="red" mt={24} style={{ flexGrow: 0 }} aria-label={`Remove wrapper ${j + 1}`}
                  onClick={() => set("wrappers", env.wrappers.filter((_, k) => k !== j))}>
                  ×
                </ActionIcon>
              </Group>
            ))}
            {err("wrappers") && <Text c="red" size="xs">{err("wrappers")}</Text>}
            <Button variant="light" size="compact-sm" w="fit-content" disabled={env.wrappers.length >= 8}
              onClick={() => set("wrappers", [...env.wrappers, { name: "", kwargs: "" }])}>
              Add wrapper
            </Button>
          </Stack>
          <Textarea label="Input map" autosize minRows={2} maxRows={14} spellCheck={false} classNames={{ input: "pc-mono" }}
            description={`JSON or YAML; empty: the family's default. ${FAMILY_HINTS[family] ?? ""}`}
            placeholder='{"kind": "discrete", "bindings": {"Up": 2, "Down": 3}}'
            value={env.input_map} onChange={(e) => set("input_map", e.currentTarget.value)} error={err("input_map")} />
          <Textarea label="Agents (multi-agent play)" autosize minRows={1} maxRows={14} spellCheck={false}
            classNames={{ input: "pc-mono" }}
            description="JSON or YAML; empty: a single-player environment. Seats by agent name, each with instructions, an input map and an always or fallback AI policy; the lobby's timeout (docs/multiagent.md)."
            placeholder='{"seats": {"first_0": {"fallback": {"kind": "random"}}, "second_0": {"fallback": {"kind": "random"}}}, "lobby_seconds": 20}'
            value={env.agents} onChange={(e) => set("agents", e.currentTarget.value)} error={err("agents")} />
          <Textarea label="Instructions for this environment" autosize minRows={1} maxRows={6} value={env.instructions}
            onChange={(e) => set("instructions", e.currentTarget.value)} error={err("instructions")} />
          <Button variant="subtle" size="compact-sm" w="fit-content" onClick={toggle} aria-expanded={advanced || advancedHasProblems}>
            {advanced || advancedHasProblems ? "Hide" : "Show"} render and timing options
          </Button>
          <Collapse in={advanced || advancedHasProblems}>
            <Stack gap="sm">
              <Group grow align="flex-start">
                <NumberInput label="Render width" description="families that render any size" min={16} max={1920}
                  value={env.render_width} onChange={(v) => set("render_width", optionalNum(v))}
                  error={err("render.width")} allowDecimal={false} />
                <NumberInput label="Render height" min={16} max={1920} value={env.render_height}
                  onChange={(v) => set("render_height", optionalNum(v))} error={err("render.height")} allowDecimal={false} />
                <NumberInput label="JPEG quality" min={1} max={100} value={env.jpeg_quality}
                  onChange={(v) => set("jpeg_quality", num(v, 80))} error={err("render.jpeg_quality")} allowDecimal={false} />
              </Group>
              <Group grow align="flex-start">
                <TextInput label="Camera" description="name or index; empty: the default" value={env.camera}
                  onChange={(e) => set("camera", e.currentTarget.value)} error={err("render.camera")} />
                <Switch label="Shadows (MuJoCo)" mt={28} checked={env.shadows}
                  onChange={(e) => set("shadows", e.currentTarget.checked)} />
                <Switch label="Step while held (turn-based)" mt={28} checked={env.step_while_held}
                  onChange={(e) => set("step_while_held", e.currentTarget.checked)} />
              </Group>
              {renderErrors.length > 0 && !renderErrors.some((p) => /render\.(width|height|jpeg_quality|camera)/.test(p.path)) && (
                <Text c="red" size="xs">{err("render")}</Text>
              )}
              <Group grow align="flex-start">
                <NumberInput label="Pause after idle (s)" min={0.1} value={env.idle_pause_s}
                  onChange={(v) => set("idle_pause_s", num(v, 6))} error={err("idle_pause_s")} />
                <NumberInput label="End a paused session after (s)" min={1} value={env.pause_expiry_s}
                  onChange={(v) => set("pause_expiry_s", num(v, 600))} error={err("pause_expiry_s")} />
              </Group>
            </Stack>
          </Collapse>
        </Stack>
        </Grid.Col>
        {preview && !previewFailed && (
          <Grid.Col span={{ base: 12, md: 5 }}>
          <Stack gap="xs" align="center">
            <Image src={preview} alt={`Preview of ${label}`} fit="contain" mah={360} maw="100%" radius="sm"
              onError={() => setPreviewFailed(true)} className="pc-preview" />
            <Text size="xs" c="dimmed">{trial?.preview_jpeg ? "Preview from the trial just now" : "Preview of the saved version"}</Text>
            {trial?.action_space && (
              <Text size="xs" className="pc-mono pc-wrap" ta="left" w="100%">
                Action space: {summarise(trial.action_space)}
                <br />
                Observation space: {summarise(trial.observation_space)}
                {trial.family && <><br />Family: {trial.family}</>}
                {trial.step_cost && <><br />One step on the worker: {stepCost(trial.step_cost)}</>}
              </Text>
            )}
            {trial && Object.keys(trial.format_limits ?? {}).length > 0 && (
              <Text size="xs" c="orange" w="100%">
                Export formats that cannot hold this environment:{" "}
                {Object.entries(trial.format_limits).map(([f, why]) => `${f} (${why})`).join("; ")}
              </Text>
            )}
          </Stack>
          </Grid.Col>
        )}
      </Grid>
    </Card>
  );
}

/** A step's cost in a line: 114 ms (step 0.3, render 112, JPEG 1.3), at most 8 steps/s. */
function stepCost(c: StepCost): string {
  const ms = (v: number) => (v >= 100 ? v.toFixed(0) : String(Number(v.toPrecision(2))));
  const fits = Math.min(60, Math.floor(1000 / c.total_ms));
  return `${ms(c.total_ms)} ms (step ${ms(c.step_ms)}, render ${ms(c.render_ms)}, JPEG ${ms(c.jpeg_ms)}), ` +
    (fits >= 1 ? `at most ${fits} step${fits === 1 ? "" : "s"}/s` : "under 1 step/s");
}

/** A space spec in a line: {"type": "discrete", "n": 6, ...} -> discrete n=6. */
function summarise(space: Record<string, unknown> | null): string {
  if (!space) return "–";
  const text = JSON.stringify(space);
  return text.length > 240 ? `${text.slice(0, 240)}…` : text;
}
