// The key help of the player: what each key of the session's input map does, in words (the Help popover).
import type { ContinuousMap, InputMap } from "../api";

// Names of the action dimensions of families whose actions have a fixed layout (the env-worker's default_arm_map)
const DIM_NAMES: Record<string, string[]> = {
  robosuite: ["x", "y", "z", "roll", "pitch", "yaw", "gripper"],
  robodesk: ["x", "y", "z", "yaw", "gripper"],
};

function dimName(family: string, dim: number): string {
  return DIM_NAMES[family]?.[dim] ?? `action ${dim}`;
}

function continuousHelp(map: ContinuousMap, family: string): string[] {
  const lines: string[] = [];
  const dims = [...new Set(map.keys.map((k) => k.dim))].sort((a, b) => a - b);
  for (const dim of dims) {
    const plus = map.keys.filter((k) => k.dim === dim && k.direction > 0).map((k) => k.key);
    const minus = map.keys.filter((k) => k.dim === dim && k.direction < 0).map((k) => k.key);
    const name = dimName(family, dim);
    const parts = [plus.length ? `${plus.join("/")}: ${name} +` : "", minus.length ? `${minus.join("/")}: ${name} −` : ""];
    lines.push(parts.filter(Boolean).join(", "));
  }
  for (const toggle of map.toggles ?? []) {
    const name = dimName(family, toggle.dim);
    lines.push(name === "gripper" ? `${toggle.key}: gripper open/close` : `${toggle.key}: toggle ${name}`);
  }
  return lines;
}

/** One line per control: "Up: action 2" for a discrete map (its digit fallbacks left out), "Down: x +, Up: x −"
 * and "Space: gripper open/close" for a continuous one. */
export function keyHelp(map: InputMap | null | undefined, family: string): string[] {
  if (!map) return [];
  if (map.kind === "continuous") return continuousHelp(map, family);
  return Object.entries(map.bindings).filter(([combo]) => !/^[0-9]$/.test(combo))
    .map(([combo, action]) => `${combo}: action ${action}`);
}
