// An API failure shown to the designer: the gateway's message (or each 422 problem) in a red alert.
import { Alert, List } from "@mantine/core";

import { ApiError } from "../api";

export function ErrorAlert({ error, title = "Something went wrong" }: { error: unknown; title?: string }) {
  if (!error) return null;
  const items = error instanceof ApiError ? error.items : [];
  return (
    <Alert color="red" title={title} role="alert">
      {items.length > 0 ? (
        <List size="sm">
          {items.map((d, i) => (
            <List.Item key={i}>
              {d.loc.filter((p) => p !== "body").join(".")}: {d.msg}
            </List.Item>
          ))}
        </List>
      ) : (
        String(error instanceof Error ? error.message : error)
      )}
    </Alert>
  );
}
