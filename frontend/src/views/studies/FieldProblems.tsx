// What is wrong with one field, shown under it (as the input's error): each problem's message, and its
// suggestions as "did you mean" buttons that fill the field in.
import { Button } from "@mantine/core";

import { below, type Problem } from "./specForm";

export function fieldError(problems: Problem[], path: string, onSuggest: (problem: Problem, s: string) => void) {
  if (problems.length === 0) return undefined;
  return (
    <>
      {problems.map((p, i) => {
        const sub = below(p, path);
        return (
          <span key={i} className="pc-problem">
            {sub && <code>{sub}</code>}
            {sub && ": "}
            {p.message}
            {p.suggestions.length > 0 && (
              <span className="pc-suggestions">
                {" "}Did you mean{" "}
                {p.suggestions.slice(0, 5).map((s) => (
                  <Button
                    key={s}
                    size="compact-xs"
                    variant="light"
                    color="blue"
                    mx={2}
                    aria-label={`Did you mean ${s}? Use it`}
                    onClick={() => onSuggest(p, s)}
                  >
                    {s}
                  </Button>
                ))}
                ?
              </span>
            )}
          </span>
        );
      })}
    </>
  );
}
