#!/usr/bin/env bash
# Turn the staged Linux package into an AppImage (called by build.sh when `appimagetool` is on PATH).
#
#   bash packaging/linux/make_appimage.sh STAGE_DIR OUTPUT.AppImage
#
# appimagetool comes from the AppImage project's releases, not from Debian or PyPI, so this machine
# cannot run this step; CI on GitHub can (see .github/workflows/build.yml).
# The AppImage opens the desktop app; called through a link named `reeldrop` (or with ARGV0 set so) it
# is the command line, e.g. `ln -s ReelDrop.AppImage ~/.local/bin/reeldrop`.
set -euo pipefail
STAGE="$(cd "$1" && pwd)"
OUTPUT="$2"
APPDIR="$(mktemp -d)/ReelDrop.AppDir"
trap 'rm -rf "$(dirname "$APPDIR")"' EXIT

mkdir -p "$APPDIR/usr/lib" "$APPDIR/usr/share"
cp -a "$STAGE" "$APPDIR/usr/lib/reeldrop"
cp -a "$STAGE/share/." "$APPDIR/usr/share/"
rm -rf "$APPDIR/usr/lib/reeldrop/share" "$APPDIR/usr/lib/reeldrop/install.sh"
cp "$STAGE/share/applications/reeldrop.desktop" "$APPDIR/reeldrop.desktop"
cp "$STAGE/share/icons/hicolor/256x256/apps/reeldrop.png" "$APPDIR/reeldrop.png"
cat > "$APPDIR/AppRun" <<'APPRUN'
#!/bin/sh
here="$(dirname "$(readlink -f "$0")")"
case "$(basename "${ARGV0:-$0}")" in
  reeldrop-server*) exec "$here/usr/lib/reeldrop/reeldrop" server "$@" ;;
  reeldrop|reeldrop-cli*) exec "$here/usr/lib/reeldrop/reeldrop" "$@" ;;
  *) exec "$here/usr/lib/reeldrop/reeldrop-gui" "$@" ;;
esac
APPRUN
chmod 755 "$APPDIR/AppRun"
ARCH="$(uname -m)" appimagetool --no-appstream "$APPDIR" "$OUTPUT"
