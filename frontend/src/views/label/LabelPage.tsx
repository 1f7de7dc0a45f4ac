// The labelling page, /label/:experimentId?token=PARTICIPANT_TOKEN (stands alone, like /play): it leases a pair of
// the preference experiment, shows it (PairView), sends the answer with when both clips started (shown_at) and
// leases the next. Between pairs it says where things stand: how many this participant answered, none ready now
// (and when it looks again, as the server's retry_after says), all done, or what went wrong and how it recovers.
// LabelTask is the same page as a part: a campaign's labelling condition shows it (views/campaign/CampaignPage).
import { Alert, Button, Card, Container, Group, Stack, Text, Title } from "@mantine/core";
import { type ReactNode, useCallback, useEffect, useRef, useState } from "react";
import { useParams, useSearchParams } from "react-router-dom";

import { ApiError, answerPair, leasePair, releasePair, type LeaseOut, type PreferenceResponse } from "../../api";
import { usePageTitle } from "../../usePageTitle";
import { ANSWERS, PairView } from "./PairView";
import "./label.css";

const RETRY_ON_ERROR_S = 5;
const RETRY_FALLBACK_S = 5; // no pair, not finished, and no retry_after: look again after this

interface Notice {
  color: "yellow" | "red" | "green";
  title: string;
  text: string;
}

/** No pair, and none to come: the server names no time to ask again, and nothing is open for this labeller. */
function finished(l: LeaseOut): boolean {
  return !l.pair && l.retry_after === null && l.progress.open === 0;
}

/** A failure that a retry will not mend: the link or the experiment is wrong. */
function fatal(e: unknown): string | null {
  if (!(e instanceof ApiError)) return null;
  if (e.status === 401) return `This link is not valid (any more): ${e.message}`;
  if (e.status === 403 || e.status === 404) return e.message;
  if (e.status === 409) return e.message; // a campaign's participant: not (or no longer) their task
  return null;
}

function answerNotice(e: unknown, label: string): Notice {
  const code = e instanceof ApiError ? e.code : null;
  if (code === "lease_lost") {
    return { color: "yellow", title: "That answer was not saved",
      text: `Your hold on that pair ran out before your answer (${label}) arrived, and another labeller has it now.` };
  }
  if (code === "already_answered") {
    return { color: "yellow", title: "That pair was already answered", text: `Your answer (${label}) was not needed.` };
  }
  const why = e instanceof Error ? e.message : String(e);
  return { color: "red", title: "Your answer could not be sent", text: `${why}. Your answer (${label}) was not saved.` };
}

/** Re-render every half second while `active`, for a countdown. */
function useTicking(active: boolean): void {
  const [, setTick] = useState(0);
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setTick((t) => t + 1), 500);
    return () => clearInterval(timer);
  }, [active]);
}

export function LabelPage() {
  const { experimentId = "" } = useParams();
  const [params] = useSearchParams();
  return <LabelTask experimentId={experimentId} token={params.get("token")?.trim() ?? ""} />;
}

/** Labelling one experiment's pairs with `token`. After each answer `onAnswered` (when given) says whether to go on
 * (a campaign's participant may have completed their condition); `aside` shows under the bar. */
export function LabelTask({ experimentId, token, onAnswered, aside }: {
  experimentId: string; token: string; onAnswered?: () => Promise<boolean>; aside?: ReactNode;
}) {
  const [lease, setLease] = useState<LeaseOut | null>(null);
  const [leases, setLeases] = useState(0); // each lease shows its pair afresh, the same pair given back included
  const [leasing, setLeasing] = useState(false);
  const [busy, setBusy] = useState(false);
  const [retryAt, setRetryAt] = useState<number | null>(null);
  const [failure, setFailure] = useState<{ message: string; fatal: boolean } | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const [saved, setSaved] = useState<string>("");
  const request = useRef(0); // only the newest lease request counts
  const began = useRef(false);
  usePageTitle(lease?.name ? `Compare clips: ${lease.name}` : "Compare clips");
  useTicking(retryAt !== null);

  const next = useCallback(async () => {
    const mine = ++request.current;
    setRetryAt(null);
    setLeasing(true);
    try {
      const l = await leasePair(experimentId, token);
      if (mine !== request.current) return;
      setLease(l);
      setLeases((n) => n + 1);
      setFailure(null);
      if (!l.pair && !finished(l)) setRetryAt(Date.now() + 1000 * (l.retry_after ?? RETRY_FALLBACK_S));
    } catch (e) {
      if (mine !== request.current) return;
      const why = fatal(e);
      setFailure({ message: why ?? (e instanceof Error ? e.message : String(e)), fatal: why !== null });
      if (why === null) setRetryAt(Date.now() + 1000 * RETRY_ON_ERROR_S);
    } finally {
      if (mine === request.current) setLeasing(false);
    }
  }, [experimentId, token]);

  useEffect(() => {
    if (!token || began.current) return; // once, also under StrictMode's second effect run
    began.current = true;
    void next();
  }, [token, next]);

  const due = retryAt !== null && Date.now() >= retryAt;
  useEffect(() => {
    if (due) void next();
  }, [due, next]);

  // A tab closed with a pair held gives it back, so that another labeller gets it before its lease runs out.
  const held = useRef<string | null>(null);
  held.current = leasing ? null : (lease?.pair?.id ?? null); // not one just answered
  useEffect(() => {
    const hide = () => {
      if (held.current) releasePair(held.current, token).catch(() => undefined);
    };
    window.addEventListener("pagehide", hide);
    return () => window.removeEventListener("pagehide", hide);
  }, [token]);

  const onAnswer = useCallback(async (response: PreferenceResponse, shownAt: Date) => {
    const pair = lease?.pair;
    if (!pair || busy) return;
    const label = ANSWERS.find((a) => a.response === response)?.label ?? response;
    setBusy(true);
    try {
      await answerPair(pair.id, response, shownAt, token);
      setNotice(null);
      setSaved(`Saved: ${label}.`);
    } catch (e) {
      setNotice(answerNotice(e, label));
      setSaved("");
    } finally {
      setBusy(false);
    }
    if (onAnswered && !(await onAnswered().catch(() => true))) return;
    await next();
  }, [lease, busy, token, next, onAnswered]);

  const onSkip = useCallback(async () => {
    const pair = lease?.pair;
    if (pair) await releasePair(pair.id, token).catch(() => undefined);
    setNotice({ color: "yellow", title: "Pair skipped", text: "A clip of that pair could not be played." });
    await next();
  }, [lease, token, next]);

  const wait = retryAt === null ? 0 : Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
  const progress = lease?.progress;
  const done = !!lease && finished(lease) && !failure;

  return (
    <Container size="xl" className="pc-label" component="main">
      <header className="pc-label-bar">
        <Title order={1} size="h4">Compare the clips</Title>
        <Group gap="md" aria-live="polite">
          {saved && <Text size="sm" c="dimmed">{saved}</Text>}
          {progress && (
            <Text size="sm">
              Answered: <b aria-label="Answered">{progress.answered}</b>
              <Text span c="dimmed" size="sm"> · {progress.open} open</Text>
            </Text>
          )}
        </Group>
      </header>
      {aside}
      {lease && <Text className="pc-label-question">{lease.instructions || "Which clip is better?"}</Text>}
      {!token && (
        <Alert color="red" role="alert" title="This link is incomplete">
          Open the labelling link you were given: it carries your token (?token=...).
        </Alert>
      )}
      {notice && (
        <Alert color={notice.color} role="alert" title={notice.title} py="xs" withCloseButton
          closeButtonLabel="Dismiss" onClose={() => setNotice(null)}>
          {notice.text}
        </Alert>
      )}
      {failure && (
        <Alert color="red" role="alert" title={failure.fatal ? "Cannot open this labelling task" : "Cannot reach the server"}>
          <Stack gap="xs">
            <Text size="sm">{failure.message}</Text>
            {!failure.fatal && (
              <Group gap="sm">
                <Text size="sm">Trying again in {wait} s.</Text>
                <Button size="xs" variant="light" onClick={() => void next()} loading={leasing}>Try again now</Button>
              </Group>
            )}
          </Stack>
        </Alert>
      )}
      {!failure && lease?.pair && (
        <PairView key={`${lease.pair.id}-${leases}`} pair={lease.pair} busy={busy || leasing} onAnswer={onAnswer} onSkip={onSkip} />
      )}
      {!failure && token && !lease && <Text role="status">Getting a pair of clips…</Text>}
      {!failure && lease && !lease.pair && !done && (
        <Card withBorder padding="lg" role="status" aria-label="Waiting for pairs">
          <Stack gap="xs">
            <Title order={2} size="h4">No pairs are ready right now — checking again in {wait} s</Title>
            <Text size="sm" c="dimmed">
              {lease.progress.pending > 0 ? "New clips are being prepared." : "Others hold the pairs left for now."}
              {" "}This page looks again by itself; keep it open.
            </Text>
            <Group>
              <Button size="xs" variant="light" onClick={() => void next()} loading={leasing}>Check now</Button>
            </Group>
          </Stack>
        </Card>
      )}
      {done && (
        <Card withBorder padding="lg" role="region" aria-label="All done">
          <Stack gap="xs">
            <Title order={2} size="h4">All done, thank you</Title>
            <Text>
              There are no more pairs to compare. You answered {progress?.answered ?? 0}
              {progress?.answered === 1 ? " pair" : " pairs"}. You can close this page.
            </Text>
            <Group>
              <Button size="xs" variant="light" onClick={() => void next()} loading={leasing}>Check again</Button>
            </Group>
          </Stack>
        </Card>
      )}
    </Container>
  );
}
