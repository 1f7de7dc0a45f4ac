// A canvas that draws JPEG frames as they come (decoded off the main thread, the newest wins) and fills its box
// with the frame's aspect kept (the player and the live view).
import { useEffect, useRef, useState } from "react";

import type { Frame } from "../player/connection";

export function FrameCanvas({ subscribe, label, className, children }: {
  /** registers a frame listener; returns its removal */
  subscribe(listener: (frame: Frame) => void): () => void;
  label: string;
  className?: string;
  /** shown over the frame (prompts) */
  children?: React.ReactNode;
}) {
  const box = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const [size, setSize] = useState<[number, number]>([160, 120]);
  const [fit, setFit] = useState<[number, number]>([0, 0]);

  useEffect(() => {
    let seq = 0;
    let drawn = 0;
    return subscribe(async (frame) => {
      const mine = ++seq;
      const bitmap = await createImageBitmap(new Blob([frame.jpeg], { type: "image/jpeg" }));
      const c = canvas.current;
      if (!c || mine < drawn) {
        bitmap.close();
        return;
      }
      drawn = mine;
      if (c.width !== bitmap.width || c.height !== bitmap.height) {
        c.width = bitmap.width;
        c.height = bitmap.height;
        setSize([bitmap.width, bitmap.height]);
      }
      c.getContext("2d")?.drawImage(bitmap, 0, 0);
      bitmap.close();
    });
  }, [subscribe]);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const measure = () => {
      const { width, height } = el.getBoundingClientRect();
      const scale = Math.min(width / size[0], height / size[1]);
      setFit([Math.max(1, Math.floor(size[0] * scale)), Math.max(1, Math.floor(size[1] * scale))]);
    };
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, [size]);

  return (
    <div ref={box} className={className} style={{ position: "relative", display: "flex", alignItems: "center",
      justifyContent: "center", minHeight: 0, minWidth: 0 }}>
      <canvas ref={canvas} width={size[0]} height={size[1]} role="img" aria-label={label}
        style={{ width: fit[0], height: fit[1], imageRendering: "pixelated", background: "#000", display: "block" }} />
      {children}
    </div>
  );
}
