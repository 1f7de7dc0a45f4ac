// The study form's model: a StudySpec as editable text (kwargs, input maps and wrapper kwargs as JSON/YAML text),
// its conversion back (with the parse errors at their fields), problems keyed by their field path
// ("environments.0.kwargs.frameskp", from a 422's loc or a trial problem's field), and "did you mean" fills.
import { parse as parseYaml, stringify as toYaml } from "yaml";

import type { DetailItem, EnvironmentSpec, Family, StudySpec, TrialProblem, TrialReply } from "../../api";

export interface WrapperForm {
  name: string;
  kwargs: string;
}

export interface EnvForm {
  /** a stable React key (the env id may be edited) */
  key: string;
  id: string;
  env_id: string;
  family: Family;
  kwargs: string;
  wrappers: WrapperForm[];
  mode: "realtime" | "turn_based";
  fps: number;
  step_while_held: boolean;
  max_episode_steps: number | "";
  input_map: string;
  agents: string;
  instructions: string;
  render_width: number | "";
  render_height: number | "";
  jpeg_quality: number;
  shadows: boolean;
  camera: string;
  idle_pause_s: number;
  pause_expiry_s: number;
}

export interface StudyForm {
  name: string;
  description: string;
  instructions: string;
  environments: EnvForm[];
}

export interface Problem {
  /** dotted path of the field: "name", "environments.0.env_id", "environments.1.kwargs.frameskp" */
  path: string;
  message: string;
  suggestions: string[];
}

let counter = 0;
const newKey = () => `env-${++counter}`;

function text(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "object" && Object.keys(value as object).length === 0) return "";
  return JSON.stringify(value, null, 2);
}

export function blankEnv(index: number): EnvForm {
  return {
    key: newKey(), id: index === 0 ? "pong" : `env${index + 1}`, env_id: index === 0 ? "ALE/Pong-v5" : "",
    family: "auto", kwargs: "", wrappers: [], mode: "realtime", fps: 15, step_while_held: false,
    max_episode_steps: "", input_map: "", agents: "", instructions: "", render_width: "", render_height: "", jpeg_quality: 80,
    shadows: true, camera: "", idle_pause_s: 6, pause_expiry_s: 600,
  };
}

export function blankStudy(): StudyForm {
  return { name: "", description: "", instructions: "", environments: [blankEnv(0)] };
}

export function formOf(spec: StudySpec): StudyForm {
  return {
    name: spec.name, description: spec.description ?? "", instructions: spec.instructions ?? "",
    environments: spec.environments.map((e) => ({
      key: newKey(), id: e.id, env_id: e.env_id, family: e.family ?? "auto", kwargs: text(e.kwargs),
      wrappers: (e.wrappers ?? []).map((w) => ({ name: w.name, kwargs: text(w.kwargs) })),
      mode: e.mode ?? "realtime", fps: e.fps ?? 15, step_while_held: e.step_while_held ?? false,
      max_episode_steps: e.max_episode_steps ?? "", input_map: text(e.input_map), agents: text(e.agents), instructions: e.instructions ?? "",
      render_width: e.render?.width ?? "", render_height: e.render?.height ?? "",
      jpeg_quality: e.render?.jpeg_quality ?? 80, shadows: e.render?.shadows ?? true,
      camera: e.render?.camera === undefined || e.render?.camera === null ? "" : String(e.render.camera),
      idle_pause_s: e.idle_pause_s ?? 6, pause_expiry_s: e.pause_expiry_s ?? 600,
    })),
  };
}

/** JSON or YAML text -> an object; "" -> undefined. Throws "Expected ..., got ..." for anything else. */
export function parseObject(source: string, what: string): Record<string, unknown> | undefined {
  if (!source.trim()) return undefined;
  let value: unknown;
  try {
    value = parseYaml(source);
  } catch (e) {
    throw new Error(`Expected ${what} as JSON or YAML, got text that does not parse: ${(e as Error).message.split("\n")[0]}`);
  }
  if (value === null || value === undefined) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new Error(`Expected ${what} as an object ({...}), got ${Array.isArray(value) ? "a list" : typeof value}`);
  }
  return value as Record<string, unknown>;
}

/** The spec to send, or the fields whose text does not parse. */
export function specOf(form: StudyForm): { spec: StudySpec; problems: Problem[] } {
  const problems: Problem[] = [];
  const parsed = (source: string, what: string, path: string) => {
    try {
      return parseObject(source, what);
    } catch (e) {
      problems.push({ path, message: (e as Error).message, suggestions: [] });
      return undefined;
    }
  };
  const environments: EnvironmentSpec[] = form.environments.map((e, i) => {
    const base = `environments.${i}`;
    const camera = e.camera.trim();
    const env: EnvironmentSpec = {
      id: e.id.trim(), env_id: e.env_id.trim(), family: e.family, kwargs: parsed(e.kwargs, "kwargs", `${base}.kwargs`) ?? {},
      wrappers: e.wrappers.map((w, j) => ({
        name: w.name.trim(), kwargs: parsed(w.kwargs, "wrapper kwargs", `${base}.wrappers.${j}.kwargs`) ?? {},
      })),
      mode: e.mode, fps: e.fps, step_while_held: e.step_while_held,
      max_episode_steps: e.max_episode_steps === "" ? null : e.max_episode_steps,
      input_map: parsed(e.input_map, "an input map", `${base}.input_map`) ?? null,
      agents: parsed(e.agents, "the agents (seats, lobby)", `${base}.agents`) ?? null,
      instructions: e.instructions,
      render: {
        width: e.render_width === "" ? null : e.render_width, height: e.render_height === "" ? null : e.render_height,
        jpeg_quality: e.jpeg_quality, shadows: e.shadows,
        camera: camera === "" ? null : /^-?\d+$/.test(camera) ? Number(camera) : camera,
      },
      idle_pause_s: e.idle_pause_s, pause_expiry_s: e.pause_expiry_s,
    };
    if (env.wrappers!.length === 0) delete env.wrappers; // servers without wrappers still take the spec
    if (env.agents === null) delete env.agents; // nor do single-agent specs need the field
    return env;
  });
  return {
    spec: { name: form.name.trim(), description: form.description, instructions: form.instructions, environments },
    problems,
  };
}

/** The spec as YAML (for `playcorder studies create` / `update`). */
export function yamlOf(spec: StudySpec): string {
  return toYaml(spec);
}

// ---------------------------------------------------------------- problems at their fields

/** A 422's detail items: loc ["body", "environments", 0, "kwargs", "frameskp"] -> "environments.0.kwargs.frameskp". */
export function problemsOfDetail(items: DetailItem[]): Problem[] {
  return items.map((d) => ({
    path: (d.loc ?? []).filter((p, i) => !(i === 0 && p === "body")).join("."),
    message: d.msg,
    suggestions: d.suggestions ?? [],
  }));
}

/** A trial's problems of the environment at `index`. */
export function problemsOfTrial(index: number, problems: TrialProblem[]): Problem[] {
  return problems.map((p) => ({ path: `environments.${index}.${p.field}`, message: p.message,
    suggestions: p.suggestions ?? [] }));
}

/** The trials' problems (or, with `which` "warnings", their warnings), each at its environment's field. */
export function problemsOfTrials(form: StudyForm, replies: TrialReply[], which: "problems" | "warnings" = "problems"): Problem[] {
  return replies.flatMap((r) => {
    const index = form.environments.findIndex((e) => e.id.trim() === r.env);
    return problemsOfTrial(index < 0 ? 0 : index, r[which] ?? []);
  });
}

/** The problems of one field: its own path, or below it ("kwargs" holds "kwargs.frameskp"). */
export function problemsAt(problems: Problem[], path: string): Problem[] {
  return problems.filter((p) => p.path === path || p.path.startsWith(`${path}.`));
}

/** Fields the form shows problems at; problems of no such field are listed above the form. */
export function fieldPaths(form: StudyForm): string[] {
  const paths = ["name", "description", "instructions"];
  form.environments.forEach((e, i) => {
    const base = `environments.${i}`;
    for (const f of ["id", "env_id", "family", "kwargs", "mode", "fps", "step_while_held", "max_episode_steps",
      "input_map", "agents", "instructions", "render", "idle_pause_s", "pause_expiry_s"]) paths.push(`${base}.${f}`);
    e.wrappers.forEach((_, j) => paths.push(`${base}.wrappers.${j}`));
  });
  return paths;
}

export function unplaced(problems: Problem[], form: StudyForm): Problem[] {
  const paths = fieldPaths(form);
  return problems.filter((p) => !paths.some((f) => p.path === f || p.path.startsWith(`${f}.`)));
}

/** The part of a problem's path below the field it is shown at ("frameskp" of "kwargs.frameskp"). */
export function below(problem: Problem, path: string): string {
  return problem.path.length > path.length ? problem.path.slice(path.length + 1) : "";
}

// ---------------------------------------------------------------- "did you mean": fill the field

function renameKey(source: string, from: string, to: string): string {
  const value = parseObject(source, "kwargs") ?? {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k === from ? to : k] = v;
  return JSON.stringify(out, null, 2);
}

/** The form with `suggestion` taken for the problem at `problem.path` (null when the form cannot place it). */
export function applySuggestion(form: StudyForm, problem: Problem, suggestion: string): StudyForm | null {
  const parts = problem.path.split(".");
  if (parts[0] !== "environments") return null;
  const index = Number(parts[1]);
  const env = form.environments[index];
  if (!env) return null;
  const field = parts[2];
  let next: EnvForm | null = null;
  try {
    if (field === "env_id") next = { ...env, env_id: suggestion };
    else if (field === "kwargs" && parts.length > 3) next = { ...env, kwargs: renameKey(env.kwargs, parts.slice(3).join("."), suggestion) };
    else if (field === "wrappers" && parts[4] === "name") {
      const j = Number(parts[3]);
      next = { ...env, wrappers: env.wrappers.map((w, k) => (k === j ? { ...w, name: suggestion } : w)) };
    } else if (field === "wrappers" && parts[4] === "kwargs" && parts.length > 5) {
      const j = Number(parts[3]);
      next = { ...env, wrappers: env.wrappers.map((w, k) => (k === j
        ? { ...w, kwargs: renameKey(w.kwargs, parts.slice(5).join("."), suggestion) } : w)) };
    } else if (field === "family") next = { ...env, family: suggestion as Family };
    else if (field === "fps" && Number.isInteger(Number(suggestion))) next = { ...env, fps: Number(suggestion) };
  } catch {
    return null;
  }
  if (!next) return null;
  const taken = withFamilyDefaults(env, next); // "did you mean NetHackScore-v0?" makes it turn-based too
  return { ...form, environments: form.environments.map((e, i) => (i === index ? taken : e)) };
}

// ---------------------------------------------------------------- hints

export const FAMILY_HINTS: Record<string, string> = {
  atari: "Atari default: arrows (or WASD) for directions, Space for fire, combinations for compound actions; " +
    'e.g. {"kind": "discrete", "bindings": {"Up": 2, "Down": 3, "Space": 1}}',
  procgen: "Procgen default: arrows for directions (diagonals as combinations), D, A, W, S, Q, E for the " +
    "game's actions.",
  mujoco: "MuJoCo default: gamepad axes drive dimensions 0-3, triggers 4-5, 6-DOF axis i drives dimension i, key " +
    'pairs Q/A, W/S, E/D, ... ramp dimensions; e.g. {"kind": "continuous", "keys": [{"key": "Q", "dim": 0, ' +
    '"direction": 1}]}',
  pettingzoo: "PettingZoo default: each seat gets its family's map (two-player Atari: arrows and Space, as " +
    "single-player Atari); set a seat's own under agents.seats.<agent>.input_map.",
  robosuite: "robosuite default (operational space, as robosuite's keyboard): W/S, A/D move the gripper in x/y, " +
    "R/F up/down, Z/X, T/G, C/V rotate about x, y, z, Space opens and closes the gripper; a 6-DOF controller " +
    "drives the six motion dimensions, a gamepad's sticks x/y and z/yaw.",
  robodesk: "RoboDesk default: W/S, A/D move the gripper in x/y, R/F up/down, C/V turn the wrist, Space opens " +
    "and closes the gripper; a 6-DOF controller drives x, y, z and the wrist.",
  nethack: "NetHack default (play it turn_based): keys are NetHack's own commands (h/j/k/l/y/u/b/n move, Shift " +
    "for long moves, < > stairs, . wait, s search, e eat, Enter or Space for --More--, Escape or Backspace to " +
    "cancel, Alt+key for meta commands, Alt+Shift+D kick); the arrows also move.",
  gymnasium: "Gymnasium default: Discrete gets digits 1-9, 0 (2 actions: Left/Right; 3: Left/Right with noop 1; " +
    '4+: Left/Down/Right/Up); a Box the continuous default. e.g. {"kind": "discrete", "bindings": {"A": 0, "D": 1}}',
};

/** How a family plays unless the designer says otherwise (the gateway's FAMILY_DEFAULTS, shared/playcorder/specs.py):
 * NetHack waits for each command (a realtime NetHack is refused), RoboDesk steps while a key is held, 3 times a second
 * (its frame is slow to render), robosuite at 5 fps. Other families: the form's own defaults. */
type PlayFields = Pick<EnvForm, "mode" | "fps" | "step_while_held">;
const FORM_PLAY: PlayFields = { mode: "realtime", fps: 15, step_while_held: false };
export const FAMILY_PLAY: Record<string, Partial<PlayFields>> = {
  nethack: { mode: "turn_based" },
  robodesk: { mode: "turn_based", step_while_held: true, fps: 3 },
  robosuite: { fps: 5 },
};

/** `after` (an edit of `before`) with its family's mode, fps and step_while_held where its family differs from
 * `before`'s and the designer left the field at `before`'s family default: typing a NetHack id makes the environment
 * turn-based, unless its mode was chosen already. */
export function withFamilyDefaults(before: EnvForm, after: EnvForm): EnvForm {
  const was = familyOf(before);
  const now = familyOf(after);
  if (was === now) return after;
  const old = { ...FORM_PLAY, ...FAMILY_PLAY[was] };
  const next = { ...FORM_PLAY, ...FAMILY_PLAY[now] };
  const out = { ...after };
  if (before.mode === old.mode) out.mode = next.mode;
  if (before.fps === old.fps) out.fps = next.fps;
  if (before.step_while_held === old.step_while_held) out.step_while_held = next.step_while_held;
  return out;
}

export function familyOf(env: EnvForm): string {
  if (env.family !== "auto") return env.family;
  if (env.env_id.startsWith("ALE/")) return "atari";
  if (env.env_id.startsWith("procgen")) return "procgen";
  if (env.env_id.startsWith("pettingzoo/")) return "pettingzoo";
  if (env.env_id.startsWith("robosuite/")) return "robosuite";
  if (env.env_id.startsWith("robodesk/")) return "robodesk";
  if (env.env_id.startsWith("NetHack")) return "nethack";
  return "gymnasium";
}
