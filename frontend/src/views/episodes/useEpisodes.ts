// A study's episodes matching the filters, a page at a time (the API's keyset cursor): the first page on every
// change of the filters, the next on loadMore; removed() drops deleted ones without a reload.
import { useCallback, useEffect, useRef, useState } from "react";

import { api, type EpisodeOut, type Page } from "../../api";

export const PAGE_SIZE = 100;

export interface Episodes {
  items: EpisodeOut[];
  nextCursor: string | null;
  loading: boolean;
  error: unknown;
  loadMore: () => void;
  reload: () => void;
  removed: (ids: string[]) => void;
}

export function useEpisodes(studyId: string, search: string): Episodes {
  const [items, setItems] = useState<EpisodeOut[]>([]);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [generation, setGeneration] = useState(0);
  const controller = useRef<AbortController | null>(null);

  const fetchPage = useCallback(
    async (cursor: string | null) => {
      controller.current?.abort();
      const ctl = new AbortController();
      controller.current = ctl;
      setLoading(true);
      setError(null);
      const params = new URLSearchParams(search);
      params.set("limit", String(PAGE_SIZE));
      if (cursor) params.set("cursor", cursor);
      try {
        const page = await api<Page<EpisodeOut>>(
          "GET", `/api/studies/${encodeURIComponent(studyId)}/episodes?${params}`, undefined, { signal: ctl.signal },
        );
        setItems((prev) => (cursor ? [...prev, ...page.items] : page.items));
        setNextCursor(page.next_cursor);
      } catch (e) {
        if ((e as Error).name === "AbortError") return;
        setError(e);
      } finally {
        if (controller.current === ctl) setLoading(false);
      }
    },
    [studyId, search],
  );

  useEffect(() => {
    void fetchPage(null);
    return () => controller.current?.abort();
  }, [fetchPage, generation]);

  const loadMore = useCallback(() => {
    if (nextCursor) void fetchPage(nextCursor);
  }, [fetchPage, nextCursor]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const removed = useCallback((ids: string[]) => {
    const gone = new Set(ids);
    setItems((prev) => prev.filter((e) => !gone.has(e.id)));
  }, []);

  return { items, nextCursor, loading, error, loadMore, reload, removed };
}
