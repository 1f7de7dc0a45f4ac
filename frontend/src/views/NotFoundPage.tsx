import { Anchor, Stack, Text, Title } from "@mantine/core";
import { Link, useLocation } from "react-router-dom";

import { usePageTitle } from "../usePageTitle";

export function NotFoundPage() {
  usePageTitle("Not found");
  const location = useLocation();
  return (
    <Stack>
      <Title order={1}>Not found</Title>
      <Text>
        Expected a page of this app, got {location.pathname}.{" "}
        <Anchor component={Link} to="/">
          Back to the studies
        </Anchor>
      </Text>
    </Stack>
  );
}
