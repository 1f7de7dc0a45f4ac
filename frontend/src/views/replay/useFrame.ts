// The JPEG a participant saw at a step: read with the steps, 100 at a time (?images=true), kept for the ten windows
// used last, and the next (or previous) window fetched ahead as the step nears its edge. While a window loads the
// last frame shown stays on screen.
import { useEffect, useRef, useState } from "react";

import { api } from "../../api";
import type { StepsPage } from "./steps";

const WINDOW = 100;
const KEEP = 10;
const AHEAD = 30;

export interface Frame {
  src: string | null;
  step: number | null; // the step `src` belongs to
  loading: boolean;
  error: unknown;
}

export function useFrame(episodeId: string, step: number, total: number): Frame {
  const cache = useRef(new Map<string, string[]>());
  const pending = useRef(new Map<string, Promise<void>>());
  const [, setVersion] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const last = useRef<{ src: string; step: number } | null>(null);

  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  useEffect(() => {
    last.current = null;
  }, [episodeId]);

  useEffect(() => {
    const want = (w: number) => {
      if (w < 0 || (total > 0 && w * WINDOW >= total)) return;
      const key = `${episodeId}:${w}`;
      if (cache.current.has(key) || pending.current.has(key)) return;
      const start = w * WINDOW;
      const p = api<StepsPage>(
        "GET", `/api/episodes/${encodeURIComponent(episodeId)}/steps?start=${start}&stop=${start + WINDOW}&images=true`,
      )
        .then((page) => {
          const images: string[] = [];
          page.steps.forEach((s) => {
            images[s.index - start] = s.image ? `data:image/jpeg;base64,${s.image}` : "";
          });
          cache.current.set(key, images);
          while (cache.current.size > KEEP) cache.current.delete(cache.current.keys().next().value as string);
          if (mounted.current) setVersion((v) => v + 1);
        })
        .catch((e) => {
          if (mounted.current) setError(e);
        })
        .finally(() => pending.current.delete(key));
      pending.current.set(key, p);
    };
    const w = Math.floor(step / WINDOW);
    want(w);
    if (step % WINDOW >= WINDOW - AHEAD) want(w + 1);
    if (step % WINDOW < AHEAD) want(w - 1);
  }, [episodeId, step, total]);

  const w = Math.floor(step / WINDOW);
  const key = `${episodeId}:${w}`;
  const images = cache.current.get(key);
  if (images) {
    cache.current.delete(key); // most recently used last
    cache.current.set(key, images);
    const src = images[step - w * WINDOW];
    if (src) last.current = { src, step };
    return { src: src || null, step: src ? step : null, loading: false, error };
  }
  return { src: last.current?.src ?? null, step: last.current?.step ?? null, loading: true, error };
}
