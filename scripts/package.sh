#!/usr/bin/env bash
# Builds the desktop binary and the Debian package, checks what the package holds, then prints
# where they are and how big.
#   bash scripts/package.sh           the release build (what a person installs)
#   bash scripts/package.sh --debug   the debug build: CI bundles the binary its e2e step has
#                                     just built, so packaging is checked without a second,
#                                     ~15-minute release compile of every dependency
# Only the .deb: tauri.conf.json's bundle targets are ["deb"] because an AppImage build
# downloads a tool from GitHub, which these machines cannot reach.
set -euo pipefail

cd "$(dirname "$0")/.."

profile=release
flags=()
if [[ "${1:-}" == "--debug" ]]; then
  profile=debug
  flags+=(--debug)
fi
out=${CARGO_TARGET_DIR:-target}/$profile

# The config's beforeBuildCommand (npm run ui:build) builds the UI that gets embedded.
npx tauri build "${flags[@]}" --bundles deb

binary=$out/baton-desktop
debs=("$out"/bundle/deb/*.deb)
if [[ ! -x "$binary" || ! -f "${debs[0]}" ]]; then
  echo "package: expected $binary and a .deb in $out/bundle/deb/" >&2
  exit 1
fi

# The package must hold the program, its desktop entry and its icon, and name its dependencies.
for deb in "${debs[@]}"; do
  contents=$(dpkg-deb --contents "$deb")
  for wanted in usr/bin/baton-desktop usr/share/applications/Baton.desktop usr/share/icons/hicolor/; do
    if ! grep -qF " $wanted" <<<"$contents"; then
      echo "package: $deb does not contain $wanted" >&2
      exit 1
    fi
  done
  if ! dpkg-deb --field "$deb" Depends | grep -q libwebkit2gtk-4.1; then
    echo "package: $deb does not depend on libwebkit2gtk-4.1" >&2
    exit 1
  fi
done

size() {
  # Bytes and a human-readable size, e.g. "3145728 bytes (3.0M)".
  printf '%s bytes (%s)' "$(stat -c %s "$1")" "$(du -h --apparent-size "$1" | cut -f1)"
}

echo
echo "package: $profile binary  $binary  $(size "$binary")"
for deb in "${debs[@]}"; do
  echo "package: debian package  $deb  $(size "$deb")"
  dpkg-deb --field "$deb" Package Version Architecture Depends | sed 's/^/package:   /'
done
