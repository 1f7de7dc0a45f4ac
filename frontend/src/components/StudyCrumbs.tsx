// The breadcrumbs of a view inside a study: Studies / <the study's name> / what follows (the children).
import { Anchor, Breadcrumbs } from "@mantine/core";
import type { ReactNode } from "react";
import { Link } from "react-router-dom";

export function StudyCrumbs({ studyId, name, children }: { studyId?: string; name?: string; children: ReactNode }) {
  return (
    <Breadcrumbs aria-label="Breadcrumbs">
      <Anchor component={Link} to="/">
        Studies
      </Anchor>
      {studyId && (
        <Anchor component={Link} to={`/studies/${studyId}`}>
          {name ?? "Study"}
        </Anchor>
      )}
      {children}
    </Breadcrumbs>
  );
}
