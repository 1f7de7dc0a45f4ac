// The Episodes view's filters, kept in the page's URL (so a link, a reload or Back from a replay keeps them), and
// what they become: the query string of GET /api/studies/{id}/episodes and the `filter` of an export request.
import type { EpisodeState } from "../../api";

export const STATES: EpisodeState[] = ["recording", "completed", "rejected", "cancelled", "abandoned", "interrupted"];
export type EndState = Exclude<EpisodeState, "recording">;

export interface EpisodeQuery {
  states: EpisodeState[];
  env: string | null;
  participant: string;
  tags: string[];
  minReward: string;
  maxReward: string;
  startedAfter: string; // yyyy-mm-dd (a local day) or ""
  startedBefore: string;
  version: string;
}

export const EMPTY_QUERY: EpisodeQuery = {
  states: [],
  env: null,
  participant: "",
  tags: [],
  minReward: "",
  maxReward: "",
  startedAfter: "",
  startedBefore: "",
  version: "",
};

/** The filters a page URL holds (its own parameter names are the API's). */
export function queryFromParams(params: URLSearchParams): EpisodeQuery {
  return {
    states: params.getAll("state").filter((s): s is EpisodeState => (STATES as string[]).includes(s)),
    env: params.get("env") || null,
    participant: params.get("participant") ?? "",
    tags: params.getAll("tag"),
    minReward: params.get("min_reward") ?? "",
    maxReward: params.get("max_reward") ?? "",
    startedAfter: params.get("after") ?? "",
    startedBefore: params.get("before") ?? "",
    version: params.get("version") ?? "",
  };
}

export function paramsFromQuery(q: EpisodeQuery): URLSearchParams {
  const p = new URLSearchParams();
  q.states.forEach((s) => p.append("state", s));
  if (q.env) p.set("env", q.env);
  if (q.participant.trim()) p.set("participant", q.participant.trim());
  q.tags.forEach((t) => p.append("tag", t));
  if (q.minReward.trim()) p.set("min_reward", q.minReward.trim());
  if (q.maxReward.trim()) p.set("max_reward", q.maxReward.trim());
  if (q.startedAfter) p.set("after", q.startedAfter);
  if (q.startedBefore) p.set("before", q.startedBefore);
  if (q.version.trim()) p.set("version", q.version.trim());
  return p;
}

/** A local day (yyyy-mm-dd) as the moment it starts, or (end=true) the moment after it ends, in ISO form. */
function dayBound(day: string, end: boolean): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (end ? 1 : 0));
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function number(text: string): number | null {
  const v = Number(text.trim());
  return text.trim() && Number.isFinite(v) ? v : null;
}

/** The query string of the episode list (without limit and cursor). */
export function apiSearch(q: EpisodeQuery): URLSearchParams {
  const p = new URLSearchParams();
  q.states.forEach((s) => p.append("state", s));
  if (q.env) p.set("env", q.env);
  if (q.participant.trim()) p.set("participant", q.participant.trim());
  q.tags.forEach((t) => p.append("tag", t));
  const min = number(q.minReward);
  const max = number(q.maxReward);
  if (min !== null) p.set("min_reward", String(min));
  if (max !== null) p.set("max_reward", String(max));
  const after = dayBound(q.startedAfter, false);
  const before = dayBound(q.startedBefore, true);
  if (after) p.set("started_after", after);
  if (before) p.set("started_before", before);
  if (/^\d+$/.test(q.version.trim())) p.set("version", q.version.trim());
  return p;
}

/** The export request's `filter` (playcorder.exports.EpisodeFilter): finished states only, completed by default. */
export interface ExportFilter {
  env?: string;
  states?: EndState[];
  participant?: string;
  tags?: string[];
  started_after?: string;
  started_before?: string;
  min_reward?: number;
  max_reward?: number;
}

export function exportFilter(q: EpisodeQuery): ExportFilter {
  const f: ExportFilter = {};
  if (q.env) f.env = q.env;
  const states = q.states.filter((s): s is EndState => s !== "recording");
  if (states.length) f.states = states;
  if (q.participant.trim()) f.participant = q.participant.trim();
  if (q.tags.length) f.tags = q.tags;
  const after = dayBound(q.startedAfter, false);
  const before = dayBound(q.startedBefore, true);
  if (after) f.started_after = after;
  if (before) f.started_before = before;
  const min = number(q.minReward);
  const max = number(q.maxReward);
  if (min !== null) f.min_reward = min;
  if (max !== null) f.max_reward = max;
  return f;
}

export function isEmpty(q: EpisodeQuery): boolean {
  return paramsFromQuery(q).toString() === "";
}
