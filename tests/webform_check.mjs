// Checks the study form's logic (frontend/src/views/studies/specForm.ts) in node, bundled by the web app's own
// esbuild: a refused spec's problems land at their fields, "did you mean" fills the field, text that does not parse
// is named at its field, and the form round-trips a spec. Prints one JSON line per check (tests/test_web_form.py).
import { build } from "../frontend/node_modules/esbuild/lib/main.js";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

// bundled under frontend/node_modules so that its own imports (yaml) resolve as the app's do
const dir = mkdtempSync(fileURLToPath(new URL("../frontend/node_modules/.webform-", import.meta.url)));
const out = join(dir, "specForm.mjs");
await build({ entryPoints: [fileURLToPath(new URL("../frontend/src/views/studies/specForm.ts", import.meta.url))],
  outfile: out, bundle: true, format: "esm", platform: "node", external: ["yaml"], logLevel: "error" });
let f;
try {
  f = await import(pathToFileURL(out).href);
} finally {
  rmSync(dir, { recursive: true });
}

const results = {};
const spec = { name: "pilot", environments: [
  { id: "pong", env_id: "ALE/Pongg-v5", kwargs: { frameskp: 4 }, wrappers: [{ name: "ImgObsWraper", kwargs: {} }] },
  { id: "grid", env_id: "MiniGrid-Empty-5x5-v0", input_map: { kind: "discrete", bindings: { Left: 0 } } },
] };
const form = f.formOf(spec);
results.roundtrip = f.specOf(form).spec;

// a 422 of POST /api/studies (the gateway's trial): each problem at its field
const detail = [
  { loc: ["body", "environments", 0, "env_id"], msg: "Expected a registered id, got 'ALE/Pongg-v5'", suggestions: ["ALE/Pong-v5"] },
  { loc: ["body", "environments", 0, "kwargs", "frameskp"], msg: "Expected kwargs ..., got 'frameskp'", suggestions: ["frameskip"] },
  { loc: ["body", "environments", 0, "wrappers", 0, "name"], msg: "Expected a wrapper", suggestions: ["ImgObsWrapper"] },
  { loc: ["body", "environments", 1, "observation_space"], msg: "Expected a recordable space", suggestions: [] },
];
const problems = f.problemsOfDetail(detail);
results.at_env_id = f.problemsAt(problems, "environments.0.env_id").map((p) => p.message);
results.at_kwargs = f.problemsAt(problems, "environments.0.kwargs").map((p) => f.below(p, "environments.0.kwargs"));
results.unplaced = f.unplaced(problems, form).map((p) => p.path);
let fixed = form;
for (const p of problems) if (p.suggestions.length) fixed = f.applySuggestion(fixed, p, p.suggestions[0]);
results.fixed = f.specOf(fixed).spec.environments[0];

// a trial's problems (POST /api/studies/trial) of the second environment, by its key
results.trial = f.problemsOfTrials(form, [{ env: "grid", ok: false, problems: [
  { field: "input_map.bindings.Left", message: "Expected an action in 0..2, got 9", suggestions: [] }] }])
  .map((p) => p.path);

// text that does not parse: named at its field, nothing sent
const broken = { ...form, environments: [{ ...form.environments[0], kwargs: "{frameskip: " }, form.environments[1]] };
results.broken = f.specOf(broken).problems.map((p) => [p.path, p.message.slice(0, 40)]);
const list = { ...form, environments: [{ ...form.environments[0], input_map: "[1, 2]" }, form.environments[1]] };
results.list = f.specOf(list).problems.map((p) => p.message);
const yaml = { ...form, environments: [{ ...form.environments[0], kwargs: "frameskip: 4\nrepeat_action_probability: 0.25" }, form.environments[1]] };
results.yaml = f.specOf(yaml).spec.environments[0].kwargs;

// the designer clears the id and types another key by key (each keystroke one edit): a NetHack or RoboDesk id
// brings its family's play
const typed = (env, id) => [...id].reduce((e, _, i) => f.withFamilyDefaults(e, { ...e, env_id: id.slice(0, i + 1) }),
  f.withFamilyDefaults(env, { ...env, env_id: "" }));
const play = (e) => ({ mode: e.mode, fps: e.fps, step_while_held: e.step_while_held });
const blank = f.blankEnv(1);
results.nethack = play(typed(blank, "NetHackScore-v0"));
results.robodesk = play(typed(blank, "robodesk/RoboDesk-v0"));
results.back = play(typed(typed(blank, "robodesk/RoboDesk-v0"), "CartPole-v1")); // and back to the form's own
results.chosen = play(typed({ ...blank, fps: 30, step_while_held: true }, "robodesk/RoboDesk-v0")); // fps kept
results.family = play(f.withFamilyDefaults(blank, { ...blank, family: "nethack" })); // the Family select
results.unchanged = play(f.withFamilyDefaults(typed(blank, "NetHack-v0"), { ...typed(blank, "NetHack-v0"),
  mode: "realtime" })); // the designer's own choice within a family stays
const nethackForm = { ...form, environments: [typed(blank, "NetHackScore-v0")] };
results.nethack_spec = f.specOf({ ...nethackForm, environments: [{ ...nethackForm.environments[0], id: "nethack" }] })
  .spec;
const misspelt = { ...form, environments: [{ ...blank, id: "nethack", env_id: "NetHakScore-v0" }] };
results.suggested = play(f.applySuggestion(misspelt, { path: "environments.0.env_id", message: "", suggestions: [] },
  "NetHackScore-v0").environments[0]);
console.log(JSON.stringify(results));
