// The designer's shell: a header with the app name, the nav (Studies, API docs), the signed-in name and Sign out.
import { AppShell, Anchor, Button, Group, Text } from "@mantine/core";
import { Link, NavLink, useNavigate } from "react-router-dom";

import { useSession } from "../session";

export function AppLayout({ children }: { children: React.ReactNode }) {
  const { account, signOut } = useSession();
  const navigate = useNavigate();
  return (
    <AppShell header={{ height: 56 }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="lg" wrap="nowrap">
            <Anchor component={Link} to="/" fw={700} size="lg" underline="never" c="inherit">
              Playcorder
            </Anchor>
            <nav aria-label="Main">
              <Group gap="md" wrap="nowrap">
                <Anchor component={NavLink} to="/" end>
                  Studies
                </Anchor>
                <Anchor href="/docs">API docs</Anchor>
              </Group>
            </nav>
          </Group>
          <Group gap="sm" wrap="nowrap">
            {account && (
              <Text size="sm" c="dimmed" aria-label="Signed in as">
                {account.name}
              </Text>
            )}
            <Button
              variant="subtle"
              size="compact-sm"
              onClick={async () => {
                await signOut();
                navigate("/signin");
              }}
            >
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Main>{children}</AppShell.Main>
    </AppShell>
  );
}
