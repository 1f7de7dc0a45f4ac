// One study (GET /api/studies/{id}), for the Episodes view's title, environments and the export's default name (and the
// Replay and Live views' breadcrumbs).
import { useEffect, useState } from "react";

import { api, type StudyOut } from "../../api";

export function useStudy(id: string): { data: StudyOut | null; error: unknown } {
  const [data, setData] = useState<StudyOut | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    setData(null);
    setError(null);
    if (!id) return; // not known yet
    const ctl = new AbortController();
    api<StudyOut>("GET", `/api/studies/${encodeURIComponent(id)}`, undefined, { signal: ctl.signal })
      .then(setData)
      .catch((e) => {
        if ((e as Error).name !== "AbortError") setError(e);
      });
    return () => ctl.abort();
  }, [id]);
  return { data, error };
}
