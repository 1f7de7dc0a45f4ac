// A campaign's participant page, /c/:campaignId: arrives with the channel's URL parameters (Prolific's
// PROLIFIC_PID/STUDY_ID/SESSION_ID, MTurk's workerId/assignmentId/hitId/turkSubmitTo, a link's participant, made
// and kept in this browser when absent), enrolls (the play token is kept per campaign, so a reload resumes), then
// by the participant's stage: consent, questionnaire, play (the player with the progress toward completion, live
// from the worker's statistics; or, for a labelling condition, the labelling page's pairs with the pairs answered)
// and completion (the code and the platform's redirect).
import { Alert, Button, Card, Container, Group, Progress, Radio, Stack, Text, TextInput, Title } from "@mantine/core";
import { useCallback, useEffect, useRef, useState } from "react";
import { useParams } from "react-router-dom";

import { PlayConnection, playUrl, type Snapshot } from "../../player/connection";
import { usePageTitle } from "../../usePageTitle";
import { LabelTask } from "../label/LabelPage";
import { GameView } from "../player/GameView";

interface Question { id: string; text: string; kind: "choice" | "text" | "scale"; options: string[];
  scale: [number, number]; required: boolean; max_length: number }
interface Pages { consent: string; instructions: string; questionnaire: Question[]; after: string }
interface Public { id: string; name: string; channel: string; params: string[]; open: string | null; pages: Pages }
interface Requirement { statistic: string; aggregate: string; target: number; value: number; fraction: number }
interface Progress {
  campaign_name: string; stage: "consent" | "questionnaire" | "play" | "complete"; condition: string | null;
  environment: string | null; label: { experiment: string; pairs: number } | null; instructions: string;
  requirements: Requirement[]; completion: number;
  values: Record<string, number>; rank: number | null; completion_code: string | null; bonus: number | null;
  after: string; redirect: { method: "GET" | "POST"; url: string; fields: Record<string, string> } | null;
}
class Refused extends Error { constructor(public code: string, message: string) { super(message); } }

const TITLES: Record<string, string> = {
  mturk_preview: "Accept the HIT to take part", campaign_full: "This study is full",
  campaign_ended: "This study has ended", campaign_closed: "This study is closed", not_started: "Not started yet",
  missing_params: "This link is incomplete", bad_params: "This link is not valid", rate_limited: "Too many tries",
};

async function call<T>(path: string, token: string | null, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof data.detail === "string" ? data.detail : `HTTP ${response.status}`;
    throw new Refused(typeof data.code === "string" ? data.code : `http_${response.status}`, detail);
  }
  return data as T;
}

/** The URL parameters the channel brings; a plain link without `participant` gets one made in this browser. */
function arrivalParams(campaign: Public): Record<string, string> {
  const query = new URLSearchParams(location.search);
  const params: Record<string, string> = {};
  for (const name of campaign.params) {
    const value = query.get(name);
    if (value) params[name] = value;
  }
  if (campaign.channel === "link" && !params.participant) {
    const key = `playcorder-participant-${campaign.id}`;
    params.participant = localStorage.getItem(key) ?? crypto.randomUUID().replaceAll("-", "");
    localStorage.setItem(key, params.participant);
  }
  return params;
}

function useSnapshot(connection: PlayConnection | null): Snapshot | null {
  const [snapshot, setSnapshot] = useState(connection?.snapshot ?? null);
  useEffect(() => (connection ? connection.subscribe(setSnapshot) : undefined), [connection]);
  return snapshot;
}

function label(r: Requirement): string {
  const name = r.statistic.replaceAll("_", " ");
  return r.aggregate === "sum" ? name : `${r.aggregate} ${name}`;
}

export function ProgressPanel({ progress, live }: { progress: Progress; live: Record<string, number> | null }) {
  return (
    <section className="pc-campaign-progress" aria-label="Your progress">
      <Group gap="lg" wrap="wrap" px="sm" py={4}>
        {progress.requirements.map((r) => {
          // the running episode adds to sums (episodes count once kept)
          const now = r.aggregate === "sum" && r.statistic !== "episodes" ? r.value + (live?.[r.statistic] ?? 0) : r.value;
          const shown = Math.min(1, now / r.target);
          return (
            <div key={`${r.statistic}-${r.aggregate}`} style={{ minWidth: 180 }}>
              <Text size="xs">{label(r)}: <b aria-label={`Progress ${label(r)}`}>{+now.toFixed(2)}</b> / {r.target}</Text>
              <Progress value={shown * 100} size="sm" aria-label={`${label(r)} toward its target`} />
            </div>
          );
        })}
        <Text size="sm">Complete: <b aria-label="Completion">{Math.round(progress.completion * 100)}%</b></Text>
        {progress.rank !== null && <Text size="sm">Ahead of {progress.rank}% of participants</Text>}
      </Group>
    </section>
  );
}

function Redirect({ redirect }: { redirect: NonNullable<Progress["redirect"]> }) {
  const form = useRef<HTMLFormElement>(null);
  useEffect(() => {
    const timer = setTimeout(() => {
      if (redirect.method === "POST") form.current?.submit();
      else location.assign(redirect.url);
    }, 5000);
    return () => clearTimeout(timer);
  }, [redirect]);
  if (redirect.method === "GET") {
    return <Button component="a" href={redirect.url}>Back to the study platform</Button>;
  }
  return (
    <form ref={form} method="POST" action={redirect.url}>
      {Object.entries(redirect.fields).map(([k, v]) => <input key={k} type="hidden" name={k} value={v} />)}
      <Button type="submit">Submit the HIT</Button>
    </form>
  );
}

export function CampaignPage() {
  const { campaignId = "" } = useParams();
  const tokenKey = `playcorder-campaign-${campaignId}`;
  const [campaign, setCampaign] = useState<Public | null>(null);
  const [token, setToken] = useState<string | null>(() => localStorage.getItem(tokenKey));
  const [progress, setProgress] = useState<Progress | null>(null);
  const [refused, setRefused] = useState<Refused | null>(null);
  const [connection, setConnection] = useState<PlayConnection | null>(null);
  const [labelling, setLabelling] = useState(false);
  const snapshot = useSnapshot(connection);
  usePageTitle(campaign?.name ?? "Study");

  const fail = useCallback((e: unknown) => setRefused(e instanceof Refused ? e : new Refused("error", String(e))), []);

  useEffect(() => {
    let live = true;
    call<Public>(`/api/c/${campaignId}`, null).then(async (c) => {
      if (!live) return;
      setCampaign(c);
      const stored = localStorage.getItem(tokenKey);
      if (stored) {
        try {
          const p = await call<Progress>("/api/enrollment", stored);
          if (live) setProgress(p);
          return;
        } catch { localStorage.removeItem(tokenKey); } // expired: enroll again (the same ids resume)
      }
      const enrolled = await call<{ token: string; progress: Progress }>(`/api/c/${campaignId}/enroll`, null,
        { params: arrivalParams(c) });
      if (!live) return;
      localStorage.setItem(tokenKey, enrolled.token);
      setToken(enrolled.token);
      setProgress(enrolled.progress);
    }).catch((e) => live && fail(e));
    return () => { live = false; };
  }, [campaignId, tokenKey, fail]);

  const refresh = useCallback(() => {
    if (token) call<Progress>("/api/enrollment", token).then(setProgress).catch(fail);
  }, [token, fail]);

  // While playing: where they stand after each episode, and every few seconds.
  const ended = snapshot?.lastEnded?.episode_id;
  useEffect(() => { if (ended) refresh(); }, [ended, refresh]);
  const experiment = progress?.stage === "play" ? progress.label?.experiment ?? null : null;
  const comparing = labelling && experiment !== null;
  useEffect(() => {
    if (!connection && !comparing) return;
    const timer = setInterval(refresh, 5000);
    return () => clearInterval(timer);
  }, [connection, comparing, refresh]);
  useEffect(() => { if (labelling && !experiment) setLabelling(false); }, [labelling, experiment]);
  useEffect(() => {
    if (progress?.stage === "complete" && connection) { connection.close(); setConnection(null); }
  }, [progress?.stage, connection]);
  useEffect(() => () => connection?.dispose(), [connection]);

  const play = useCallback(() => {
    if (!token || !progress?.environment) return;
    const c = new PlayConnection({ url: playUrl(location), token, storage: sessionStorage,
      pads: () => (navigator.getGamepads ? navigator.getGamepads() : []) });
    c.start(progress.environment);
    setConnection(c);
  }, [token, progress?.environment]);

  // Labelling: where they stand after each answer; done once complete (or assigned something else).
  const answered = useCallback(async () => {
    if (!token) return false;
    const p = await call<Progress>("/api/enrollment", token);
    setProgress(p);
    return p.stage === "play" && p.label?.experiment === experiment;
  }, [token, experiment]);

  if (comparing && token && progress) {
    return <LabelTask key={experiment} experimentId={experiment} token={token} onAnswered={answered}
      aside={<ProgressPanel progress={progress} live={null} />} />;
  }

  if (connection && progress) {
    return <GameView connection={connection} studyName={progress.campaign_name} onLeave={() => {
      connection.close(); setConnection(null); refresh();
    }} aside={<ProgressPanel progress={progress} live={snapshot?.stats ?? null} />} />;
  }

  return (
    <Container size="sm" py="xl" component="main">
      <Stack>
        <Title order={1}>{campaign?.name ?? "Study"}</Title>
        {refused && (
          <Alert color={refused.code === "mturk_preview" ? "blue" : "red"} role="alert"
            title={TITLES[refused.code] ?? "Cannot take part"}>
            {refused.code === "mturk_preview"
              ? "You are previewing this HIT. Accept it on MTurk to start; this page then opens the study."
              : refused.message}
          </Alert>
        )}
        {!refused && !progress && <Text>Opening the study…</Text>}
        {progress && campaign && <Stage campaign={campaign} progress={progress} token={token!}
          onPlay={progress.label ? () => setLabelling(true) : play} onProgress={setProgress} onFail={fail} />}
      </Stack>
    </Container>
  );
}

function Stage({ campaign, progress, token, onPlay, onProgress, onFail }: {
  campaign: Public; progress: Progress; token: string; onPlay: () => void; onProgress: (p: Progress) => void;
  onFail: (e: unknown) => void;
}) {
  const [answers, setAnswers] = useState<Record<string, string | number>>({});
  if (progress.stage === "consent") {
    return (
      <Card withBorder padding="lg">
        <Stack>
          <Title order={2}>Consent</Title>
          <Text style={{ whiteSpace: "pre-wrap" }}>{campaign.pages.consent}</Text>
          <Button onClick={() => call<Progress>("/api/enrollment/consent", token, {}).then(onProgress).catch(onFail)}>
            I agree
          </Button>
        </Stack>
      </Card>
    );
  }
  if (progress.stage === "questionnaire") {
    return (
      <Card withBorder padding="lg" component="form" onSubmit={(e: React.FormEvent) => {
        e.preventDefault();
        call<Progress>("/api/enrollment/answers", token, { answers }).then(onProgress).catch(onFail);
      }}>
        <Stack>
          <Title order={2}>A few questions</Title>
          {campaign.pages.questionnaire.map((q) => q.kind === "text" ? (
            <TextInput key={q.id} label={q.text} required={q.required} maxLength={q.max_length}
              onChange={(e) => { const v = e.currentTarget.value; setAnswers((a) => ({ ...a, [q.id]: v })); }} />
          ) : (
            <Radio.Group key={q.id} label={q.text} required={q.required} value={answers[q.id]?.toString() ?? ""}
              onChange={(v) => setAnswers((a) => ({ ...a, [q.id]: q.kind === "scale" ? Number(v) : v }))}>
              <Group mt="xs">
                {(q.kind === "choice" ? q.options
                  : Array.from({ length: q.scale[1] - q.scale[0] + 1 }, (_, i) => String(q.scale[0] + i)))
                  .map((o) => <Radio key={o} value={o} label={o} />)}
              </Group>
            </Radio.Group>
          ))}
          <Button type="submit">Continue</Button>
        </Stack>
      </Card>
    );
  }
  if (progress.stage === "play") {
    return (
      <Card withBorder padding="lg">
        <Stack>
          <Title order={2}>Instructions</Title>
          {progress.instructions && <Text style={{ whiteSpace: "pre-wrap" }}>{progress.instructions}</Text>}
          <ProgressPanel progress={progress} live={null} />
          {progress.label ? (
            <>
              <Text size="sm" c="dimmed">Compare {progress.label.pairs} pairs of clips: ← left is better, → right,
                = equal, Space can't tell.</Text>
              <Button size="md" onClick={onPlay}>Start comparing</Button>
            </>
          ) : (
            <>
              <Text size="sm" c="dimmed">An episode starts paused: your first key press starts it. y keeps a finished
                episode.</Text>
              <Button size="md" onClick={onPlay}>Play</Button>
            </>
          )}
        </Stack>
      </Card>
    );
  }
  return (
    <Card withBorder padding="lg" role="region" aria-label="Completed">
      <Stack>
        <Title order={2}>Thank you: you have completed the study</Title>
        {progress.after && <Text style={{ whiteSpace: "pre-wrap" }}>{progress.after}</Text>}
        <Text>Your completion code: <b aria-label="Completion code">{progress.completion_code}</b></Text>
        {progress.bonus !== null && <Text>Your bonus: {progress.bonus.toFixed(2)}</Text>}
        {progress.redirect && <Redirect redirect={progress.redirect} />}
      </Stack>
    </Card>
  );
}
