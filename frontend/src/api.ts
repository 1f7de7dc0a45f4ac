// The gateway's REST API as the web app calls it: cookies (the designer's session) go along, unsafe methods carry
// the X-CSRF-Token header from the pc_csrf cookie, failures throw ApiError with FastAPI's detail, and a 401 sends
// the designer to /signin. Types mirror the gateway's response models (services/gateway/playcorder_gateway/schemas.py).

/** One problem of a 422: where (FastAPI's loc), what, and "did you mean" suggestions when the server has them. */
export interface DetailItem {
  loc: (string | number)[];
  msg: string;
  type?: string;
  suggestions?: string[];
}

export type Detail = string | DetailItem[] | unknown;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: Detail,
    readonly retryAfter: number | null = null,
    /** What was refused, for a page to act on ("lease_lost"): the body's `code`, or null. */
    readonly code: string | null = null,
  ) {
    super(describe(status, detail));
    this.name = "ApiError";
  }

  /** The 422 problems as a list (empty when the detail is a plain message). */
  get items(): DetailItem[] {
    return Array.isArray(this.detail) ? (this.detail as DetailItem[]) : [];
  }
}

function describe(status: number, detail: Detail): string {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d: DetailItem) => `${(d.loc ?? []).filter((p) => p !== "body").join(".")}: ${d.msg}`)
      .join("; ");
  }
  return `Expected an answer from the gateway, got HTTP ${status}`;
}

export function cookie(name: string): string | null {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return null;
}

/** What to do on a 401: main.tsx points this at the router (to /signin?next=...). */
let onUnauthorized: () => void = () => {
  const next = encodeURIComponent(location.pathname + location.search);
  if (location.pathname !== "/signin") location.assign(`/signin?next=${next}`);
};

export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export interface ApiOptions {
  /** false: a 401 is thrown like any error, no redirect (the sign-in form itself). */
  redirectOn401?: boolean;
  signal?: AbortSignal;
  /** A participant's bearer token (the labelling page): sent as Authorization; a 401 is thrown, no redirect. */
  token?: string;
  /** Let the request outlive the page (a release sent as the tab closes). */
  keepalive?: boolean;
}

/** Call the API: `api<StudyOut>("GET", "/api/studies/" + id)`. Resolves to undefined for 204. */
export async function api<T>(method: string, path: string, body?: unknown, options: ApiOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  if (UNSAFE.has(method.toUpperCase())) {
    const csrf = cookie("pc_csrf");
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: options.signal,
      keepalive: options.keepalive,
    });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiError(0, `Expected the gateway to answer, got no connection (${(e as Error).message})`);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!response.ok) {
    const detail = data && typeof data === "object" && "detail" in data ? (data as { detail: Detail }).detail : data;
    const retry = Number(response.headers.get("Retry-After"));
    if (response.status === 401 && options.redirectOn401 !== false && !options.token) onUnauthorized();
    const code = data && typeof data === "object" && "code" in data ? (data as { code: unknown }).code : null;
    throw new ApiError(response.status, detail, Number.isFinite(retry) && retry > 0 ? retry : null,
      typeof code === "string" ? code : null);
  }
  return data as T;
}

// ---------------------------------------------------------------- response models

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Account {
  id: string;
  name: string;
}

export interface SessionInfo {
  account: Account;
  csrf_token: string;
}

export type Family = "auto" | "atari" | "procgen" | "mujoco" | "gymnasium" | "pettingzoo" | "robosuite" | "robodesk"
  | "nethack";

export interface WrapperSpec {
  name: string;
  kwargs: Record<string, unknown>;
}

/** Input maps (shared/playcorder/inputs.py): keys (browser names normalised: 'Up', 'A', 'Space') to actions. */
export interface DiscreteMap {
  kind: "discrete";
  bindings: Record<string, number>;
  noop?: number;
}

export interface KeyBinding {
  key: string;
  dim: number;
  direction: 1 | -1;
}

export interface AxisBinding {
  source: string;
  dim: number;
  scale?: number;
  dead_zone?: number;
  invert?: boolean;
}

/** A key whose each press flips a dimension between its low and high end (a gripper's open/close). */
export interface ToggleBinding {
  key: string;
  dim: number;
  start?: "low" | "high";
}

export interface ContinuousMap {
  kind: "continuous";
  axes: AxisBinding[];
  keys: KeyBinding[];
  toggles?: ToggleBinding[];
  ramp_per_s?: number;
  release?: "hold" | "return";
}

export type InputMap = DiscreteMap | ContinuousMap;

export interface RenderSpec {
  width?: number | null;
  height?: number | null;
  jpeg_quality?: number;
  shadows?: boolean;
  camera?: string | number | null;
}

export interface EnvironmentSpec {
  id: string;
  env_id: string;
  family?: Family;
  kwargs?: Record<string, unknown>;
  wrappers?: WrapperSpec[];
  mode?: "realtime" | "turn_based";
  fps?: number;
  step_while_held?: boolean;
  max_episode_steps?: number | null;
  input_map?: Record<string, unknown> | null;
  instructions?: string;
  render?: RenderSpec;
  idle_pause_s?: number;
  pause_expiry_s?: number;
  /** a multi-agent environment: seats, policies, lobby (docs/multiagent.md) */
  agents?: Record<string, unknown> | null;
}

export interface StudySpec {
  name: string;
  description?: string;
  instructions?: string;
  environments: EnvironmentSpec[];
}

export interface StudyOut {
  id: string;
  name: string;
  created_at: string;
  spec: StudySpec;
  version: number;
  enabled: boolean;
  archived: boolean;
  disabled_environments: string[];
  updated_at: string | null;
  episode_count: number;
}

export interface StudyVersion {
  version: number;
  spec: StudySpec;
  created_at: string;
}

export interface TrialProblem {
  field: string;
  message: string;
  suggestions: string[];
}

/** What one step (env.step, render, JPEG) cost on the worker that tried the environment: medians, in ms. */
export interface StepCost {
  total_ms: number;
  step_ms: number;
  render_ms: number;
  jpeg_ms: number;
  steps: number;
}

export interface TrialReply {
  env: string;
  ok: boolean;
  problems: TrialProblem[];
  /** what works, but not as the spec asks (e.g. at "fps": a step slower than 1000 / fps); the study is still valid */
  warnings: TrialProblem[];
  step_cost: StepCost | null;
  family: string | null;
  observation_space: Record<string, unknown> | null;
  action_space: Record<string, unknown> | null;
  preview_jpeg: string | null;
  width: number | null;
  height: number | null;
  format_limits: Record<string, string>;
}

export interface ParticipantOut {
  participant_id: string;
  study_id: string;
  token: string;
  expires_at: string;
}

export interface SessionOut {
  id: string;
  study_id: string;
  participant_id: string;
  env: string;
  worker_id: string;
  started_at: string;
  ended_at: string | null;
  episodes: number;
}

export interface EnvironmentChoice {
  id: string;
  env_id: string;
  mode: string;
  instructions: string;
}

export interface ParticipantStudy {
  study_id: string;
  participant_id: string;
  name: string;
  description: string;
  instructions: string;
  enabled?: boolean;
  environments: EnvironmentChoice[];
}

export type EpisodeState = "recording" | "completed" | "rejected" | "cancelled" | "abandoned" | "interrupted";

export interface EpisodeOut {
  id: string;
  study_id: string;
  study_version?: number | null;
  session_id: string;
  participant_id: string;
  env: string;
  env_id: string;
  worker_id: string;
  state: EpisodeState;
  end_reason: string | null;
  num_steps: number;
  total_reward: number;
  seed: number;
  started_at: string;
  ended_at: string | null;
  duration_s: number | null;
  active_s: number;
  tags: string[];
  notes: string;
}

export interface StepTag {
  step: number;
  label: string;
}

export interface EpisodeDetail extends EpisodeOut {
  step_tags: StepTag[];
  observation_spec: Record<string, unknown>;
  action_spec: Record<string, unknown>;
}

export interface PresignedFile {
  path: string;
  size: number;
  url: string;
}

export interface ExportOut {
  id: string;
  study_id: string;
  format: string;
  options: Record<string, unknown>;
  state: string;
  episodes: number;
  steps_done: number;
  steps_total: number;
  size_bytes: number | null;
  error: string | null;
  created_at: string;
  finished_at: string | null;
  url: string | null;
  files: PresignedFile[] | null;
  expires_at: string | null;
}

/** Fetch every page of a list (`limit` per request) up to `most` items. */
export async function allPages<T>(path: string, most = 5000, limit = 500): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page: Page<T> = await api<Page<T>>("GET", `${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < most);
  return items;
}

// ---------------------------------------------------------------- preference feedback (labelling)

export type PreferenceResponse = "left" | "right" | "tie" | "cant_tell";

/** One side of a leased pair: its clip in two encodings (presigned links) and its length. */
export interface ClipOut {
  segment_id: string;
  webm: string;
  mp4: string;
  frames: number;
  fps: number;
  seconds: number;
  width: number;
  height: number;
}

export interface LeasedPair {
  id: string;
  lease_until: string;
  left: ClipOut;
  right: ClipOut;
}

/** A lease: a pair to label, or none offerable now (ask again after `retry_after` s), or none left (null). */
export interface LeaseOut {
  pair: LeasedPair | null;
  retry_after: number | null;
  /** answered: by you; open: pairs you could still be given; pending: pairs whose clips are still rendering */
  progress: { answered: number; open: number; pending: number };
  instructions: string;
  name: string;
}

export interface PreferenceLabel {
  seq: number;
  pair_id: string;
  left: string;
  right: string;
  response: PreferenceResponse;
  labeller: string;
  shown_at: string;
  answered_at: string;
  duration_ms: number;
}

/** The next pair for this participant (POST /api/preferences/{id}/lease). */
export function leasePair(experimentId: string, token: string): Promise<LeaseOut> {
  return api<LeaseOut>("POST", `/api/preferences/${encodeURIComponent(experimentId)}/lease`, undefined, { token });
}

/** Answer a leased pair; throws ApiError 409 with code lease_lost / already_answered when it is no longer ours. */
export function answerPair(pairId: string, response: PreferenceResponse, shownAt: Date | null,
  token: string): Promise<{ label: PreferenceLabel }> {
  return api<{ label: PreferenceLabel }>("POST", `/api/preferences/pairs/${encodeURIComponent(pairId)}/answer`,
    { response, shown_at: shownAt ? shownAt.toISOString() : null }, { token });
}

/** Give a leased pair back unanswered (the tab closes), so another labeller gets it before its lease runs out. */
export function releasePair(pairId: string, token: string): Promise<void> {
  return api<void>("POST", `/api/preferences/pairs/${encodeURIComponent(pairId)}/release`, undefined,
    { token, keepalive: true });
}
