// Reward, input and action over the episode's steps (uPlot), drawn along the scrubber: a line marks the current
// step, small ticks the tagged steps, and a click on the plot moves to the step under the pointer.
import "uplot/dist/uPlot.min.css";
import "./replay.css";

import { Box } from "@mantine/core";
import { useEffect, useRef } from "react";
import uPlot from "uplot";

interface Props {
  steps: number[];
  reward: (number | null)[];
  input: (number | null)[];
  action: (number | null)[];
  actionLabel: string;
  current: number;
  tagged: number[];
  onSeek: (step: number) => void;
  /** where the plotting area lies in the container (CSS pixels), for the scrubber below to line up with it */
  onLayout?: (area: { left: number; width: number }) => void;
  height?: number;
}

/** A scale's range: uPlot's own with 10 % room, and -1..1 around a flat series (uPlot would make 0..100 of all 0). */
function around(_u: uPlot, min: number | null, max: number | null): uPlot.Range.MinMax {
  if (min === null || max === null) return [0, 1];
  return min === max ? [min - 1, max + 1] : uPlot.rangeNum(min, max, 0.1, true);
}

const COLORS = { reward: "#2f9e44", input: "#1c7ed6", action: "#e8590c", cursor: "#c2255c", tag: "#f59f00" };

export function ReplayPlot({ steps, reward, input, action, actionLabel, current, tagged, onSeek, onLayout, height = 160 }: Props) {
  const container = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const state = useRef({ current, tagged, onSeek, onLayout, area: "" });
  state.current = { ...state.current, current, tagged, onSeek, onLayout };

  // (re)build when the series change; a new step only redraws
  useEffect(() => {
    const el = container.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 200),
      height,
      cursor: { y: false, drag: { x: false, y: false } },
      legend: { show: true, live: false },
      scales: { x: { time: false }, reward: { range: around }, input: { range: around } },
      axes: [
        { label: "Step", labelSize: 16, size: 36 },
        { scale: "reward", label: "Reward", labelSize: 16, size: 48, stroke: COLORS.reward },
        { scale: "input", side: 1, label: "Input / action", labelSize: 16, size: 48, stroke: COLORS.input, grid: { show: false } },
      ],
      series: [
        { label: "Step" },
        { label: "Reward", scale: "reward", stroke: COLORS.reward, width: 1.5, points: { show: false } },
        { label: "Inputs held", scale: "input", stroke: COLORS.input, width: 1, paths: uPlot.paths.stepped?.({ align: 1 }), points: { show: false } },
        { label: actionLabel, scale: "input", stroke: COLORS.action, width: 1, paths: uPlot.paths.stepped?.({ align: 1 }), points: { show: false }, show: action.some((a) => a !== null) },
      ],
      hooks: {
        draw: [
          (u) => {
            const area = { left: u.bbox.left / uPlot.pxRatio, width: u.bbox.width / uPlot.pxRatio };
            const key = `${area.left},${area.width}`;
            if (key !== state.current.area) {
              state.current.area = key;
              state.current.onLayout?.(area);
            }
            const ctx = u.ctx;
            const { top, height: h } = u.bbox;
            ctx.save();
            ctx.lineWidth = 1 * uPlot.pxRatio;
            ctx.strokeStyle = COLORS.tag;
            for (const t of state.current.tagged) {
              const x = u.valToPos(t, "x", true);
              ctx.beginPath();
              ctx.moveTo(x, top);
              ctx.lineTo(x, top + 8 * uPlot.pxRatio);
              ctx.stroke();
            }
            const x = u.valToPos(state.current.current, "x", true);
            ctx.strokeStyle = COLORS.cursor;
            ctx.lineWidth = 2 * uPlot.pxRatio;
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + h);
            ctx.stroke();
            ctx.restore();
          },
        ],
        ready: [
          (u) => {
            u.over.addEventListener("click", () => {
              const left = u.cursor.left;
              if (left === undefined || left < 0) return;
              const v = Math.round(u.posToVal(left, "x"));
              state.current.onSeek(v);
            });
          },
        ],
      },
    };
    const data: uPlot.AlignedData = [steps, reward, input, action];
    const u = new uPlot(opts, data, el);
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(el.clientWidth, 200), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [steps, reward, input, action, actionLabel, height]);

  useEffect(() => {
    plot.current?.redraw(false);
  }, [current, tagged]);

  return (
    <Box
      ref={container}
      className="replay-plot"
      role="img"
      aria-label="Reward, input and action over the steps; click to move to a step"
      style={{ cursor: "pointer" }}
    />
  );
}
