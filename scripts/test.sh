#!/usr/bin/env bash
# Everything CI checks, in the order that fails fastest. Run from anywhere.
set -euo pipefail

cd "$(dirname "$0")/.."

# Free disk is printed with every step: a full disk has failed a CI run before.
step() {
  printf '\n==== %s ==== (%s free)\n' "$*" "$(df -h --output=avail . | tail -n 1 | tr -d ' ')"
}

# A run compiles each crate once, so incremental state (gigabytes in target/) would only cost
# disk. Set CARGO_INCREMENTAL=1 to keep it when running this by hand again and again.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

step "setup"
bash scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

# actionlint (and shellcheck on its run: steps) on the release workflow.
step "lint workflows"
bash scripts/lint-workflows.sh

step "typecheck UI"
npm run typecheck

# The Tauri crate embeds ui/dist at compile time, so it must exist before clippy and tests.
step "build UI"
npm run ui:build

# The built UI in headless Chromium against a fake backend (ui/tests/).
step "UI tests"
npm run test:ui

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# The PostgreSQL backend's tests (the conformance suite) run against a private cluster
# started here; without BATON_TEST_DATABASE_URL they fail, so they cannot be skipped.
step "cargo test"
pg_env=$(bash scripts/pg.sh start) # an assignment, so a failed start stops the run
eval "$pg_env"
trap 'bash scripts/pg.sh stop "$BATON_PG_DIR"' EXIT
cargo test --workspace --locked

# schemathesis against a real `baton run`, driven by docs/openapi.json: no 5xx.
step "API fuzz (schemathesis)"
bash scripts/api-fuzz.sh

# The real app, built with the UI embedded, under tauri-driver on a virtual display
# (see e2e/README.md).
step "desktop e2e"
bash scripts/e2e.sh

# The debug build the e2e step made, bundled: a release compile would add ~15 minutes.
step "package (.deb, .rpm)"
bash scripts/package.sh --debug

# Last: it installs an older build as a .deb and updates it from a signed feed, leaving
# target/debug/baton-desktop built as a newer version with a throwaway key.
step "in-app update"
bash scripts/update-test.sh
