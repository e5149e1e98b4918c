#!/usr/bin/env bash
# Regenerates docs/screenshots/desktop-*.png from the real app on a virtual display.
# Not part of CI: it needs ImageMagick, installed here on first use (run as root).
#
#   bash scripts/screenshots.sh              build the app first (as scripts/e2e.sh does)
#   bash scripts/screenshots.sh --no-build   use the binary already in target/debug
set -euo pipefail

cd "$(dirname "$0")/.."

# /usr/local/bin/convert may be a stand-in on these machines; `import` is ImageMagick's.
if [[ ! -x /usr/bin/import ]]; then
  echo "screenshots: installing imagemagick"
  apt-get update
  apt-get install -y --no-install-recommends imagemagick
fi

if [[ "${1:-}" != "--no-build" ]]; then
  npm run ui:build
  npx tauri build --debug --no-bundle --config '{"build":{"beforeBuildCommand":null}}'
  cargo build -p baton-tray
fi

mkdir -p docs/screenshots
exec xvfb-run -a -s '-screen 0 1280x800x24' dbus-run-session -- node e2e/screenshots.mjs
