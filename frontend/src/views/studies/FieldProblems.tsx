// What is wrong with one field, shown under it (as the input's error), or what works but not as asked (a trial's
// warning, e.g. a step slower than the fps allows): each message, and its suggestions as "did you mean" buttons
// that fill the field in.
import { Button } from "@mantine/core";

import { below, type Problem } from "./specForm";

type Suggest = (problem: Problem, s: string) => void;

function messages(problems: Problem[], path: string, onSuggest: Suggest, className: string) {
  if (problems.length === 0) return undefined;
  return (
    <>
      {problems.map((p, i) => {
        const sub = below(p, path);
        const warning = className === "pc-warning";
        return (
          <span key={i} className={className}>
            {sub && <code>{sub}</code>}
            {sub && ": "}
            {p.message}
            {p.suggestions.length > 0 && !warning && (
              <span className="pc-suggestions">
                {" "}Did you mean{" "}
                {p.suggestions.slice(0, 5).map((s) => (
                  <Button key={s} size="compact-xs" variant="light" color="blue" mx={2}
                    aria-label={`Did you mean ${s}? Use it`} onClick={() => onSuggest(p, s)}>
                    {s}
                  </Button>
                ))}
                ?
              </span>
            )}
            {p.suggestions.length > 0 && warning && (
              <span className="pc-suggestions">
                {p.suggestions.slice(0, 5).map((s) => (
                  <Button key={s} size="compact-xs" variant="white" color="dark" mt={4} mr={4} display="block"
                    aria-label={`Use ${s}`} onClick={() => onSuggest(p, s)}>
                    Use {s}
                  </Button>
                ))}
              </span>
            )}
          </span>
        );
      })}
    </>
  );
}

export function fieldError(problems: Problem[], path: string, onSuggest: Suggest) {
  return messages(problems, path, onSuggest, "pc-problem");
}

/** A trial's warnings at the field: shown below it, in yellow; the study can still be saved. */
export function fieldWarning(warnings: Problem[], path: string, onSuggest: Suggest) {
  return messages(warnings, path, onSuggest, "pc-warning");
}
