// A study's campaigns (on its page): each with the URL to give its platform, its dashboard, close and the bonus
// table; and a form to create one from a spec (JSON or YAML, docs/campaigns.md).
import { Anchor, Button, Card, Group, Stack, Text, Textarea, TextInput, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router-dom";
import YAML from "yaml";

import { api } from "../../api";

export interface CampaignOut {
  id: string; study_id: string; name: string; channel: string; closed: boolean; link: string; created_at: string;
  completion_code: string; spec: { conditions: { id: string; environment?: string | null }[] };
}

const PLACEHOLDERS: Record<string, string> = {
  prolific: "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}",
  mturk: "", link: "?participant=",
};

export function campaignUrl(c: CampaignOut): string {
  return `${location.origin}${c.link}${PLACEHOLDERS[c.channel] ?? ""}`;
}

function sample(env: string): string {
  return `name: Pilot\nchannel: prolific\nconditions:\n  - id: first\n    environment: ${env}\n    quota: {target: 50}\n` +
    "requirements:\n  - {statistic: episodes, target: 1}\npages:\n  consent: You agree that your play is recorded.\n";
}

export function CampaignsPanel({ studyId, firstEnv }: { studyId: string; firstEnv: string }) {
  const [campaigns, setCampaigns] = useState<CampaignOut[]>([]);
  const [spec, setSpec] = useState(() => sample(firstEnv));
  const [busy, setBusy] = useState(false);
  const load = useCallback(() => {
    api<CampaignOut[]>("GET", `/api/studies/${studyId}/campaigns`).then(setCampaigns).catch(() => undefined);
  }, [studyId]);
  useEffect(load, [load]);

  const create = async () => {
    setBusy(true);
    try {
      await api<CampaignOut>("POST", `/api/studies/${studyId}/campaigns`, YAML.parse(spec));
      load();
    } catch (e) {
      notifications.show({ color: "red", title: "No campaign made", message: (e as Error).message });
    } finally {
      setBusy(false);
    }
  };
  const close = async (id: string) => {
    await api<CampaignOut>("POST", `/api/campaigns/${id}/close`).catch(() => undefined);
    load();
  };

  return (
    <Card withBorder padding="md" component="section" aria-label="Campaigns">
      <Stack gap="sm">
        <Title order={3}>Campaigns</Title>
        {campaigns.map((c) => (
          <Stack key={c.id} gap={4}>
            <Group justify="space-between">
              <Text fw={600}>{c.name} <Text span c="dimmed" size="sm">({c.channel}{c.closed ? ", closed" : ""})</Text></Text>
              <Anchor component={Link} to={`/campaigns/${c.id}`}>Dashboard</Anchor>
            </Group>
            <TextInput readOnly value={campaignUrl(c)} label={`Link of ${c.name}`} size="xs"
              onFocus={(e) => e.currentTarget.select()} />
            <Group gap="xs">
              <Anchor href={`/api/campaigns/${c.id}/bonuses.csv`} size="sm">Bonus CSV</Anchor>
              {!c.closed && <Button size="compact-xs" variant="light" color="red" onClick={() => close(c.id)}>
                Close</Button>}
            </Group>
          </Stack>
        ))}
        <Textarea label="New campaign (YAML or JSON)" autosize minRows={6} value={spec}
          onChange={(e) => setSpec(e.currentTarget.value)} styles={{ input: { fontFamily: "monospace" } }} />
        <Button onClick={create} loading={busy}>Create campaign</Button>
      </Stack>
    </Card>
  );
}
