#!/usr/bin/env bash
# Desktop end-to-end tests: builds the real app with the UI embedded, then drives it through
# tauri-driver (WebDriver) on a virtual display with its own session bus (the tray and the
# single-instance plugin live on D-Bus). Tests are in e2e/*.test.mjs; see e2e/README.md.
#
#   bash scripts/e2e.sh              build, then run every test
#   bash scripts/e2e.sh --no-build   run against the binary already in target/debug
#   E2E_ONLY=tray bash scripts/e2e.sh   only tests whose name matches (node --test-name-pattern)
set -euo pipefail

cd "$(dirname "$0")/.."

build=1
if [[ "${1:-}" == "--no-build" ]]; then
  build=0
fi

if [[ ! -x .tools/bin/tauri-driver ]]; then
  echo "e2e: .tools/bin/tauri-driver is missing; run scripts/setup.sh first" >&2
  exit 1
fi

if ((build)); then
  npm run ui:build
  # The config's beforeBuildCommand would rebuild the UI just built, so skip it.
  npx tauri build --debug --no-bundle --config '{"build":{"beforeBuildCommand":null}}'
  # The runner the window starts, beside it in target/debug.
  cargo build -p baton-tray
fi

args=(--test --test-concurrency=1 --test-reporter=spec)
if [[ -n "${E2E_ONLY:-}" ]]; then
  args+=(--test-name-pattern "$E2E_ONLY")
fi

# One app at a time: every instance claims the same single-instance name on the session bus,
# so two at once would hand over to each other. --test-concurrency=1 runs the files one by
# one, and tests within a file run in order. -a picks a free display number.
exec xvfb-run -a -s '-screen 0 1280x800x24' \
  dbus-run-session -- node "${args[@]}" e2e/
