#!/usr/bin/env bash
# Builds the runner (baton-tray: the engine, the tray and notifications, without a webview) for
# a profile, and stages it where the packages take it from (tauri.conf.json's
# bundle.linux.{deb,rpm}.files): target/runner/baton-tray. The window starts the runner from
# beside its own executable, so the packages install both in /usr/bin.
#   bash scripts/runner.sh debug|release
set -euo pipefail

cd "$(dirname "$0")/.."

profile=${1:?usage: scripts/runner.sh debug|release}
flags=()
[[ $profile == release ]] && flags+=(--release)
cargo build "${flags[@]}" -p baton-tray
out=${CARGO_TARGET_DIR:-target}/$profile
install -D -m 0755 "$out/baton-tray" target/runner/baton-tray
