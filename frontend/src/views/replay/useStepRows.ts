// Every recorded step of an episode without its image (for the plot along the scrubber and the step details),
// read 1000 at a time (the API's largest range) from the first; the plot fills in as windows arrive.
import { useEffect, useState } from "react";

import { api } from "../../api";
import type { StepRow, StepsPage } from "./steps";

const WINDOW = 1000;

export interface StepRows {
  rows: StepRow[];
  done: boolean;
  error: unknown;
}

export function useStepRows(episodeId: string, numSteps: number | null): StepRows {
  const [rows, setRows] = useState<StepRow[]>([]);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    if (numSteps === null) return;
    const ctl = new AbortController();
    setRows([]);
    setDone(false);
    setError(null);
    (async () => {
      let start = 0;
      for (;;) {
        const page = await api<StepsPage>(
          "GET",
          `/api/episodes/${encodeURIComponent(episodeId)}/steps?start=${start}&stop=${start + WINDOW}`,
          undefined,
          { signal: ctl.signal },
        );
        setRows((prev) => [...prev, ...page.steps]);
        start += WINDOW;
        // a recording episode's num_steps grows; a short window is the end of what is stored
        if (page.steps.length < WINDOW || (numSteps > 0 && start >= numSteps)) break;
      }
      setDone(true);
    })().catch((e) => {
      if ((e as Error).name !== "AbortError") setError(e);
    });
    return () => ctl.abort();
  }, [episodeId, numSteps]);

  return { rows, done, error };
}
