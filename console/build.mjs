// Builds src/ into the Python package's static/ folder (or the folder named as the argument);
// the same sources give the same bytes.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";

const out = process.argv[2] ?? "../runner/service/console/static";
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: "src/main.ts" },
  bundle: true, minify: true, format: "iife", target: "es2020",
  legalComments: "none", outdir: out, logLevel: "warning",
});
await build({ entryPoints: { app: "src/app.css" }, bundle: true, minify: true, outdir: out,
  logLevel: "warning" });
copyFileSync("src/index.html", `${out}/index.html`);
