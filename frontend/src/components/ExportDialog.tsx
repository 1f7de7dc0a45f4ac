// The download dialog: which episodes (the selected ones, or every one matching the filters), the dataset format,
// one ZIP or the directory tree, keep the internal metadata, end-of-episode tags, a test split, the dataset's name
// and version and how long the links stay valid. "Export" queues the build (POST /api/studies/{id}/exports); the
// dialog then follows it to the link (ExportProgress).
import {
  Alert,
  Button,
  Checkbox,
  Group,
  Modal,
  NumberInput,
  Radio,
  Select,
  Stack,
  TagsInput,
  TextInput,
} from "@mantine/core";
import { useEffect, useState } from "react";

import { api, type ExportOut } from "../api";
import { type ExportFilter } from "../views/episodes/query";
import { tagProblem } from "../views/episodes/format";
import { ErrorAlert } from "./ErrorAlert";
import { ExportProgress } from "./ExportProgress";

export const FORMATS = [
  { value: "rlds", label: "RLDS (TFDS layout)" },
  { value: "envlogger", label: "EnvLogger (Riegeli)" },
  { value: "minari", label: "Minari" },
  { value: "lerobot", label: "LeRobot v3" },
  { value: "d3rlpy", label: "d3rlpy (processed frames: CrowdPlay's 84x84, skip 4, stack 4)" },
];

const EXPIRY = [
  { value: "3600", label: "1 hour" },
  { value: "21600", label: "6 hours" },
  { value: "86400", label: "1 day" },
  { value: "604800", label: "7 days" },
];

const NAME = /^[a-z][a-z0-9_]{0,63}$/;
const VERSION = /^[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9}$/;

/** The dataset name the exporter picks from the study's name (playcorder_exporter.plan.dataset_name). */
export function defaultName(studyName: string): string {
  const slug = studyName.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "") || "study";
  return `playcorder_${slug}`.slice(0, 64).replace(/_+$/, "");
}

interface Props {
  opened: boolean;
  onClose: () => void;
  studyId: string;
  studyName: string;
  /** the ticked episodes and their environments */
  selectedIds: string[];
  selectedEnvs: string[];
  /** the Episodes view's filters, as an export filter */
  filter: ExportFilter;
  environments: { value: string; label: string }[];
}

export function ExportDialog({ opened, onClose, studyId, studyName, selectedIds, selectedEnvs, filter, environments }: Props) {
  const [scope, setScope] = useState<"selected" | "filter">(selectedIds.length ? "selected" : "filter");
  const [format, setFormat] = useState("rlds");
  const [archive, setArchive] = useState(true);
  const [keepMetadata, setKeepMetadata] = useState(false);
  const [endTags, setEndTags] = useState<string[]>([]);
  const [testSplit, setTestSplit] = useState<number | string>(0);
  const [name, setName] = useState("");
  const [version, setVersion] = useState("1.0.0");
  const [expiry, setExpiry] = useState<string | null>("3600");
  const [env, setEnv] = useState<string | null>(filter.env ?? null);
  const [submitting, setSubmitting] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [job, setJob] = useState<ExportOut | null>(null);

  useEffect(() => {
    if (!opened) return;
    setScope(selectedIds.length ? "selected" : "filter");
    setEnv(filter.env ?? (environments.length === 1 ? environments[0].value : null));
    setError(null);
    setJob(null);
  }, [opened]); // eslint-disable-line react-hooks/exhaustive-deps -- reset only when (re)opened

  const split = typeof testSplit === "number" ? testSplit : Number(testSplit);
  const problems = {
    name: name && !NAME.test(name) ? "Expected lowercase letters, digits and '_', starting with a letter (at most 64)" : null,
    version: !VERSION.test(version) ? "Expected a version like 1.0.0" : null,
    split: !(split >= 0 && split < 1) ? "Expected a share from 0 to below 1, e.g. 0.2" : null,
    endTags: endTags.map(tagProblem).find((p) => p) ?? null,
    env:
      scope === "filter" && environments.length > 1 && !env
        ? "Expected one environment: a dataset holds one observation and action space"
        : null,
    selection:
      scope === "selected" && selectedEnvs.length > 1
        ? `Expected episodes of one environment (a dataset has one observation and action space), got ${selectedEnvs.join(", ")}`
        : null,
  };
  const blocked = Object.values(problems).some((p) => p);

  async function submit() {
    setSubmitting(true);
    setError(null);
    const body: Record<string, unknown> = {
      format,
      archive,
      keep_metadata: keepMetadata,
      end_tags: endTags,
      test_split: split,
      version,
      link_expiry: expiry ? Number(expiry) : undefined,
    };
    if (name) body.name = name;
    if (scope === "selected") body.episode_ids = selectedIds;
    else body.filter = { ...filter, ...(env ? { env } : {}) };
    try {
      setJob(await api<ExportOut>("POST", `/api/studies/${encodeURIComponent(studyId)}/exports`, body));
    } catch (e) {
      setError(e);
    } finally {
      setSubmitting(false);
    }
  }

  const filterText = describeFilter({ ...filter, ...(env ? { env } : {}) });
  return (
    <Modal opened={opened} onClose={onClose} title="Download dataset" size="lg">
      {job ? (
        <Stack>
          <ExportProgress initial={job} />
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setJob(null)}>
              New export
            </Button>
            <Button onClick={onClose}>Close</Button>
          </Group>
        </Stack>
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (!blocked) void submit();
          }}
        >
          <Stack gap="sm">
            <Radio.Group label="Episodes" value={scope} onChange={(v) => setScope(v as "selected" | "filter")}>
              <Stack gap={6} mt={6}>
                <Radio
                  value="selected"
                  disabled={!selectedIds.length}
                  label={`The ${selectedIds.length} selected episode${selectedIds.length === 1 ? "" : "s"}`}
                />
                <Radio value="filter" label={`Every episode matching the filters: ${filterText}`} />
              </Stack>
            </Radio.Group>
            {problems.selection && (
              <Alert color="orange" role="alert">
                {problems.selection}
              </Alert>
            )}
            {scope === "filter" && environments.length > 1 && (
              <Select
                label="Environment"
                data={environments}
                value={env}
                onChange={setEnv}
                error={problems.env}
                required
              />
            )}
            <Select
              label="Format"
              data={FORMATS}
              value={format}
              onChange={(v) => setFormat(v ?? "rlds")}
              allowDeselect={false}
            />
            <Checkbox
              label="As a single archive (ZIP)"
              description="Unticked: the dataset's directory tree, a link per file"
              checked={archive}
              onChange={(e) => setArchive(e.currentTarget.checked)}
            />
            <Checkbox
              label="Keep internal metadata"
              description="The image shown, raw input, info, tags and notes of every step (larger; stripped by default)"
              checked={keepMetadata}
              onChange={(e) => setKeepMetadata(e.currentTarget.checked)}
            />
            <TagsInput
              label="End-of-episode tags"
              description="An episode ends at its first step carrying one of these tags"
              placeholder="e.g. goal"
              value={endTags}
              onChange={setEndTags}
              maxTags={20}
              error={problems.endTags}
            />
            <NumberInput
              label="Test split"
              description="Share of the episodes in a 'test' split (0: all in 'train')"
              min={0}
              max={0.99}
              step={0.05}
              decimalScale={3}
              value={testSplit}
              onChange={setTestSplit}
              error={problems.split}
            />
            <Group grow align="flex-start">
              <TextInput
                label="Dataset name"
                placeholder={defaultName(studyName)}
                value={name}
                onChange={(e) => setName(e.currentTarget.value)}
                error={problems.name}
              />
              <TextInput
                label="Dataset version"
                value={version}
                onChange={(e) => setVersion(e.currentTarget.value)}
                error={problems.version}
              />
              <Select
                label="Link expiry"
                data={EXPIRY}
                value={expiry}
                onChange={setExpiry}
                allowDeselect={false}
              />
            </Group>
            <ErrorAlert error={error} title="The export was refused" />
            <Group justify="flex-end">
              <Button variant="default" onClick={onClose}>
                Cancel
              </Button>
              <Button type="submit" loading={submitting} disabled={blocked}>
                Export
              </Button>
            </Group>
          </Stack>
        </form>
      )}
    </Modal>
  );
}

function describeFilter(f: ExportFilter): string {
  const parts = [`state ${(f.states ?? ["completed"]).join(" or ")}`];
  if (f.env) parts.push(`environment ${f.env}`);
  if (f.participant) parts.push(`participant ${f.participant}`);
  if (f.tags?.length) parts.push(`tags ${f.tags.join(", ")}`);
  if (f.min_reward !== undefined) parts.push(`reward ≥ ${f.min_reward}`);
  if (f.max_reward !== undefined) parts.push(`reward ≤ ${f.max_reward}`);
  if (f.started_after) parts.push(`started from ${new Date(f.started_after).toLocaleDateString()}`);
  if (f.started_before) parts.push(`started before ${new Date(f.started_before).toLocaleDateString()}`);
  return parts.join(", ");
}
