#!/usr/bin/env bash
# Builds the desktop binary, the Debian package and the RPM, checks what each installs, then
# prints where they are and how big.
#   bash scripts/package.sh           the release build (what a person installs)
#   bash scripts/package.sh --debug   the debug build: CI bundles the binary its e2e step has
#                                     just built, so packaging is checked without a second,
#                                     ~15-minute release compile of every dependency
# No AppImage: tauri.conf.json's bundle targets are ["deb", "rpm"] because an AppImage build
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

# The runner, which both packages install beside the window.
bash scripts/runner.sh "$profile"
# The config's beforeBuildCommand (npm run ui:build) builds the UI that gets embedded.
npx tauri build "${flags[@]}" --bundles deb,rpm

binary=$out/baton-desktop
debs=("$out"/bundle/deb/*.deb)
rpms=("$out"/bundle/rpm/*.rpm)
if [[ ! -x "$binary" || ! -f "${debs[0]}" || ! -f "${rpms[0]}" ]]; then
  echo "package: expected $binary, a .deb in $out/bundle/deb/ and an .rpm in $out/bundle/rpm/" >&2
  exit 1
fi
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)

fail() {
  echo "package: $*" >&2
  exit 1
}

# What both packages must install: the window, the runner, the desktop entry and its icon.
WANTED=(usr/bin/baton-desktop usr/bin/baton-tray usr/share/applications/Baton.desktop usr/share/icons/hicolor/128x128/apps/baton-desktop.png)

# The desktop entry must be valid and start the installed program with the installed icon.
check_entry() { # ROOT
  local entry=$1/usr/share/applications/Baton.desktop
  desktop-file-validate "$entry" || fail "$entry is not a valid desktop entry"
  grep -qx 'Exec=baton-desktop' "$entry" || fail "$entry does not run baton-desktop"
  grep -qx 'Icon=baton-desktop' "$entry" || fail "$entry does not name the baton-desktop icon"
}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The .deb, installed by dpkg into an empty root (the machine's own packages are untouched):
# its files land, dpkg records it installed at this version, and its dependencies resolve
# against this system's package archive.
for deb in "${debs[@]}"; do
  root=$scratch/deb
  mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
  : >"$root/var/lib/dpkg/status"
  # --force-depends: the empty root has none of the libraries; apt checks them below.
  dpkg --root="$root" --force-depends --force-script-chrootless -i "$deb" >"$scratch/dpkg.log" 2>&1 ||
    fail "dpkg could not install $deb: $(cat "$scratch/dpkg.log")"
  [[ $(dpkg --root="$root" -s baton | sed -n 's/^Status: //p') == "install ok installed" ]] ||
    fail "dpkg does not record $deb as installed"
  [[ $(dpkg --root="$root" -s baton | sed -n 's/^Version: //p') == "$version" ]] ||
    fail "$deb is not version $version"
  for wanted in "${WANTED[@]}"; do
    [[ -e "$root/$wanted" ]] || fail "installing $deb did not put $wanted in place"
  done
  [[ -x "$root/usr/bin/baton-desktop" ]] || fail "$deb's baton-desktop is not executable"
  [[ -x "$root/usr/bin/baton-tray" ]] || fail "$deb's baton-tray is not executable"
  check_entry "$root"
  dpkg-deb --field "$deb" Depends | grep -q libwebkit2gtk-4.1 || fail "$deb does not depend on libwebkit2gtk-4.1"
  apt-get install --simulate --no-install-recommends "$(realpath "$deb")" >/dev/null 2>"$scratch/apt.err" ||
    fail "the dependencies of $deb do not resolve: $(cat "$scratch/apt.err")"
done

# The .rpm, read with rpm (metadata, files, requirements) and its files unpacked and checked
# like the .deb's.
for rpm_file in "${rpms[@]}"; do
  info=$(rpm -qip "$rpm_file" 2>/dev/null)
  grep -q '^Name *: baton$' <<<"$info" || fail "$rpm_file is not named baton"
  grep -q "^Version *: $version\$" <<<"$info" || fail "$rpm_file is not version $version"
  grep -q '^Summary *: .\+' <<<"$info" || fail "$rpm_file has no summary"
  files=$(rpm -qlp "$rpm_file" 2>/dev/null)
  for wanted in "${WANTED[@]}"; do
    grep -qx "/$wanted" <<<"$files" || fail "$rpm_file does not contain /$wanted"
  done
  rpm -qp --requires "$rpm_file" 2>/dev/null | grep -q 'libwebkit2gtk-4.1' ||
    fail "$rpm_file does not require libwebkit2gtk-4.1"
  root=$scratch/rpm
  mkdir -p "$root"
  rpm2archive - <"$rpm_file" | tar -xzf - -C "$root"
  check_entry "$root"
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
for rpm_file in "${rpms[@]}"; do
  echo "package: rpm package     $rpm_file  $(size "$rpm_file")"
  rpm -qp --queryformat 'Name: %{NAME}\nVersion: %{VERSION}-%{RELEASE}\nArchitecture: %{ARCH}\n' "$rpm_file" | sed 's/^/package:   /'
  rpm -qp --requires "$rpm_file" | grep -v '^rpmlib' | sed 's/^/package:   Requires: /'
done
