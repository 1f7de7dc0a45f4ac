// The whole study spec as a form: name, description, instructions, the environments (add, remove, each with its
// fields), "Try" (POST /api/studies/trial: preview frames, problems and warnings at their fields, nothing saved) and Save
// (the caller's: POST to create, PUT to edit). A 422 of either puts each problem at its field; a refused save
// scrolls to the first field with a problem and focuses it.
import { Alert, Button, Group, List, Stack, Text, TextInput, Textarea } from "@mantine/core";
import { useEffect, useRef, useState } from "react";

import { api, ApiError, type StudySpec, type TrialReply } from "../../api";
import { EnvironmentFields } from "./EnvironmentFields";
import { fieldError } from "./FieldProblems";
import {
  applySuggestion, blankEnv, problemsAt, problemsOfDetail, problemsOfTrials, specOf, unplaced, type Problem,
  type StudyForm as Form,
} from "./specForm";

export interface StudyFormProps {
  form: Form;
  onChange(form: Form): void;
  /** saves the spec; throws ApiError (422 problems are shown at their fields) */
  onSave(spec: StudySpec): Promise<void>;
  saveLabel: string;
  /** the saved study (edit): previews per env key, and which envs are disabled */
  studyId?: string;
  savedEnvs?: string[];
  version?: number;
  disabledEnvs?: string[];
  onToggleEnv?(key: string, enabled: boolean): void;
}

export function StudyForm(props: StudyFormProps) {
  const { form, onChange } = props;
  const [problems, setProblems] = useState<Problem[]>([]);
  const [warnings, setWarnings] = useState<Problem[]>([]); // the last Try's: the study works, but not as asked
  const [trials, setTrials] = useState<TrialReply[]>([]);
  const [busy, setBusy] = useState<"try" | "save" | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [tried, setTried] = useState<string | null>(null);
  const [refusals, setRefusals] = useState(0); // counts refused saves: each one shows its first problem
  const formRef = useRef<HTMLFormElement>(null);

  useEffect(() => {
    const form = formRef.current;
    if (!refusals || !form) return;
    const first = form.querySelector<HTMLElement>('[aria-invalid="true"]') ?? form.querySelector<HTMLElement>('[role="alert"]');
    first?.scrollIntoView({ block: "center" });
    first?.focus({ preventScroll: true });
  }, [refusals]);

  const suggest = (problem: Problem, suggestion: string) => {
    const next = applySuggestion(form, problem, suggestion);
    if (!next) return;
    onChange(next);
    setProblems((ps) => ps.filter((p) => p !== problem));
    setWarnings((ws) => ws.filter((w) => w !== problem));
  };

  /** The spec, or null when some field's text does not parse (shown at the field). */
  const prepare = (): StudySpec | null => {
    const { spec, problems: local } = specOf(form);
    setFailure(null);
    setTried(null);
    setProblems(local);
    setWarnings([]);
    return local.length ? null : spec;
  };

  /** Shows why the server refused; true when it named problems at fields. */
  const explain = (e: unknown): boolean => {
    if (e instanceof ApiError && e.status === 422 && e.items.length) {
      setProblems(problemsOfDetail(e.items));
      return true;
    } else if (e instanceof ApiError && e.status === 503) {
      setFailure(`${e.message}${e.retryAfter ? ` (try again in ${e.retryAfter} s)` : ""}`);
    } else setFailure(e instanceof Error ? e.message : String(e));
    return false;
  };

  const tryIt = async () => {
    const spec = prepare();
    if (!spec) return;
    setBusy("try");
    try {
      const { environments } = await api<{ environments: TrialReply[] }>("POST", "/api/studies/trial", spec);
      setTrials(environments);
      const found = problemsOfTrials(form, environments);
      const warned = problemsOfTrials(form, environments, "warnings");
      setProblems(found);
      setWarnings(warned);
      setTried(found.length ? null : `All ${environments.length} environment${environments.length === 1 ? "" : "s"} work` +
        (warned.length ? `, with ${warned.length} warning${warned.length === 1 ? "" : "s"} (marked in yellow).` : "."));
    } catch (e) {
      explain(e);
    } finally {
      setBusy(null);
    }
  };

  const save = async () => {
    const spec = prepare();
    if (!spec) {
      setRefusals((n) => n + 1);
      return;
    }
    setBusy("save");
    try {
      await props.onSave(spec);
    } catch (e) {
      if (explain(e)) setRefusals((n) => n + 1);
    } finally {
      setBusy(null);
    }
  };

  const err = (path: string) => fieldError(problemsAt(problems, path), path, suggest);
  const elsewhere = unplaced(problems, form);
  const unplacedWarnings = unplaced(warnings, form);
  const trialOf = (id: string) => trials.find((t) => t.env === id.trim());

  return (
    <form
      ref={formRef}
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
      aria-label="Study spec"
      noValidate
    >
      <Stack gap="md">
        <TextInput label="Study name" required value={form.name} error={err("name")}
          onChange={(e) => onChange({ ...form, name: e.currentTarget.value })} />
        <Textarea label="Description" autosize minRows={1} maxRows={4} value={form.description} error={err("description")}
          onChange={(e) => onChange({ ...form, description: e.currentTarget.value })} />
        <Textarea label="Instructions for participants" description="shown before they pick an environment"
          autosize minRows={1} maxRows={6} value={form.instructions} error={err("instructions")}
          onChange={(e) => onChange({ ...form, instructions: e.currentTarget.value })} />

        {form.environments.map((env, i) => (
          <EnvironmentFields
            key={env.key}
            env={env}
            index={i}
            problems={problems}
            warnings={warnings}
            trial={trialOf(env.id)}
            savedPreview={props.studyId && props.savedEnvs?.includes(env.id)
              ? `/api/studies/${props.studyId}/environments/${encodeURIComponent(env.id)}/preview.jpg?v=${props.version ?? 0}` : null}
            enabled={props.savedEnvs?.includes(env.id) && props.onToggleEnv
              ? !(props.disabledEnvs ?? []).includes(env.id) : null}
            canRemove={form.environments.length > 1}
            onChange={(next) => onChange({ ...form, environments: form.environments.map((e, j) => (j === i ? next : e)) })}
            onRemove={() => {
              onChange({ ...form, environments: form.environments.filter((_, j) => j !== i) });
              setProblems([]);
              setWarnings([]);
            }}
            onSuggest={suggest}
            onToggleEnabled={(on) => props.onToggleEnv?.(env.id, on)}
          />
        ))}
        <Button variant="light" w="fit-content" disabled={form.environments.length >= 50}
          onClick={() => onChange({ ...form, environments: [...form.environments, blankEnv(form.environments.length)] })}>
          Add environment
        </Button>

        {elsewhere.length > 0 && (
          <Alert color="red" title="Problems" role="alert">
            <List size="sm">
              {elsewhere.map((p, i) => (
                <List.Item key={i}>
                  {p.path && <code>{p.path}</code>}
                  {p.path && ": "}
                  {p.message}
                </List.Item>
              ))}
            </List>
          </Alert>
        )}
        {problems.length > 0 && elsewhere.length === 0 && (
          <Text c="red" size="sm" role="alert">
            {problems.length} problem{problems.length === 1 ? "" : "s"}: see the fields marked in red.
          </Text>
        )}
        {failure && <Alert color="red" title="Not done" role="alert">{failure}</Alert>}
        {tried && (
          <Alert color={warnings.length ? "yellow" : "green"} role="status">
            {tried} Previews are shown beside each environment.
            {unplacedWarnings.length > 0 && (
              <List size="sm">
                {unplacedWarnings.map((w, i) => <List.Item key={i}>{w.path && <code>{w.path}</code>}{w.path && ": "}{w.message}</List.Item>)}
              </List>
            )}
          </Alert>
        )}

        <Group className="pc-form-actions">
          <Button variant="default" onClick={() => void tryIt()} loading={busy === "try"} disabled={busy !== null}>
            Try
          </Button>
          <Button type="submit" loading={busy === "save"} disabled={busy !== null}>
            {props.saveLabel}
          </Button>
          <Text size="xs" c="dimmed">
            Try builds every environment on a worker and shows a frame; Save tries them too and saves only a spec
            that works.
          </Text>
        </Group>
      </Stack>
    </form>
  );
}
