// Builds the player's connection module (src/player/connection.ts, no DOM, no framework) on its own as an ES module,
// dist/player/connection.js, for the node harness of the resume test (tests/webplayer_harness.mjs), which drives
// the same code the web app's player runs.
import { build } from "esbuild";

await build({
  entryPoints: ["src/player/connection.ts"],
  outfile: "dist/player/connection.js",
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  sourcemap: true,
  logLevel: "warning",
});
