// The recorded steps as GET /api/episodes/{id}/steps returns them, and what the replay plots of them: how much
// input was in use at a step (held keys and touch controls, pressed buttons, deflected axes) and a number for the
// action (the index of a Discrete one, else the mean absolute value of its numbers).

export interface LeafSummary {
  dtype: string;
  shape: number[];
  sha256?: string;
  min?: number | null;
  max?: number | null;
  mean?: number | null;
  [key: string]: unknown;
}

export interface StepRow {
  index: number;
  action: unknown;
  reward: number;
  discount: number;
  is_first: boolean;
  is_last: boolean;
  is_terminal: boolean;
  time: number;
  input: Record<string, unknown>;
  info: Record<string, unknown>;
  tags: string[];
  observation: LeafSummary[];
  image?: string;
}

export interface StepsPage {
  episode_id: string;
  state: string;
  num_steps: number;
  start: number;
  stop: number;
  steps: StepRow[];
}

const DEAD_ZONE = 0.1;

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** The number of inputs in use at a step: held keys and touch controls, pressed buttons, deflected axes. */
export function inputAmount(input: Record<string, unknown>): number {
  const keys = list(input.keys).length + list(input.touch).length;
  const buttons = list(input.buttons).filter((b) => typeof b === "number" && b > 0.5).length;
  const axes = [...list(input.axes), ...list(input.sixdof)].filter(
    (a) => typeof a === "number" && Math.abs(a) > DEAD_ZONE,
  ).length;
  return keys + buttons + axes;
}

/** A short text of a step's input: "Up + Space", "button 0, axis 1 -0.8", or "none". */
export function describeInput(input: Record<string, unknown>): string {
  const parts: string[] = [...list(input.keys), ...list(input.touch)].map(String);
  list(input.buttons).forEach((b, i) => {
    if (typeof b === "number" && b > 0.5) parts.push(`button ${i}`);
  });
  list(input.axes).forEach((a, i) => {
    if (typeof a === "number" && Math.abs(a) > DEAD_ZONE) parts.push(`axis ${i} ${a.toFixed(2)}`);
  });
  const sixdof = ["x", "y", "z", "rx", "ry", "rz"];
  list(input.sixdof).forEach((a, i) => {
    if (typeof a === "number" && Math.abs(a) > DEAD_ZONE) parts.push(`${sixdof[i] ?? i} ${a.toFixed(2)}`);
  });
  if (input.explicit) parts.push(parts.length ? "(and an explicit action)" : "an explicit action message (no keys held)");
  return parts.length ? parts.join(" + ") : "none";
}

function numbers(v: unknown, out: number[] = []): number[] {
  if (typeof v === "number") out.push(v);
  else if (typeof v === "boolean") out.push(v ? 1 : 0);
  else if (Array.isArray(v)) v.forEach((x) => numbers(x, out));
  else if (v && typeof v === "object") Object.values(v).forEach((x) => numbers(x, out));
  return out;
}

/** What the plot shows of the action, by the action space: its label and a number per step. */
export function actionSeries(actionSpec: Record<string, unknown>): { label: string; value: (a: unknown) => number | null } {
  if (actionSpec.type === "discrete") {
    return { label: "Action index", value: (a) => (typeof a === "number" ? a : null) };
  }
  return {
    label: "Action |mean|",
    value: (a) => {
      const ns = numbers(a);
      return ns.length ? ns.reduce((s, x) => s + Math.abs(x), 0) / ns.length : null;
    },
  };
}

/** Names of an observation's leaves, in the order of the summaries ("image", "mission", "0.pos"); "" alone. */
export function leafNames(spec: Record<string, unknown>, prefix = ""): string[] {
  const spaces = spec.spaces;
  if (spec.type === "dict" && spaces && typeof spaces === "object" && !Array.isArray(spaces)) {
    return Object.entries(spaces as Record<string, Record<string, unknown>>).flatMap(([k, sub]) =>
      leafNames(sub, prefix ? `${prefix}.${k}` : k),
    );
  }
  if (spec.type === "tuple" && Array.isArray(spaces)) {
    return (spaces as Record<string, unknown>[]).flatMap((sub, i) => leafNames(sub, prefix ? `${prefix}.${i}` : String(i)));
  }
  return [prefix];
}
