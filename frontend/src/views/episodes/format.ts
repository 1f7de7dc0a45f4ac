// How episode values read in the Episodes table and the Replay view: dates, durations, rewards, short ids, tags.

const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : DATE.format(d);
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  if (m < 60) return `${m} min ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function formatReward(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return Number.isInteger(value) ? String(value) : value.toFixed(3);
}

/** The first 8 hex digits of a gateway id: enough to tell episodes apart on screen (the full id is in the title). */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

// The gateway's tag form (playcorder.fields.Label): exports turn tags into feature names.
const LABEL = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** null when `text` is a valid tag, else the message the gateway would give. */
export function tagProblem(text: string): string | null {
  if (LABEL.test(text)) return null;
  return `Expected a tag of letters, digits, '_', '.', '-' (1-64, starting with a letter or digit), got ${JSON.stringify(text)}`;
}

export const STATE_COLORS: Record<string, string> = {
  recording: "blue",
  completed: "green",
  rejected: "orange",
  cancelled: "gray",
  abandoned: "yellow",
  interrupted: "red",
};
