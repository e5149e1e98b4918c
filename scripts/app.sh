#!/usr/bin/env bash
# Builds the desktop app with the UI embedded (debug profile, no installer) and starts it.
# Needs a display: run it from a desktop session, or under Xvfb with DISPLAY set.
set -euo pipefail

cd "$(dirname "$0")/.."

if [[ -z "${DISPLAY:-}" ]]; then
  echo "app: DISPLAY is not set; Baton is a desktop app and needs a display to open its window." >&2
  echo "app: on a headless machine start one first, e.g. 'Xvfb :99 &' then 'DISPLAY=:99 $0'." >&2
  exit 1
fi

bash scripts/setup.sh

npm run ui:build

# --debug keeps the build quick; the UI is embedded all the same. The config's
# beforeBuildCommand would rebuild the UI, which was just done, so skip it.
npx tauri build --debug --no-bundle --config '{"build":{"beforeBuildCommand":null}}'
# The runner (engine, tray, notifications) the window starts, beside it in target/debug.
cargo build -p baton-tray

exec target/debug/baton-desktop "$@"
