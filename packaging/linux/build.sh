#!/usr/bin/env bash
# Build the Linux package from a checkout:
#
#   bash packaging/linux/build.sh
#
# makes dist/reeldrop-<version>-linux-<arch>.tar.xz (and an AppImage next to it when `appimagetool` is on
# PATH). By default it creates a private build environment in build/venv and installs the app and
# PyInstaller there, so a clean checkout needs nothing but python3 (3.11+) and the network to the package
# index. REELDROP_BUILD_PYTHON=/path/to/python uses an environment that already has the app (an editable
# install is fine) and PyInstaller instead, which skips the install step.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

VERSION="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' app/__init__.py)"
[ -n "$VERSION" ] || { echo "build.sh: no __version__ in app/__init__.py" >&2; exit 1; }
ARCH="$(uname -m)"
NAME="reeldrop-${VERSION}-linux-${ARCH}"
WORK="$ROOT/build/linux"
STAGE="$WORK/stage/$NAME"
mkdir -p "$ROOT/dist" "$WORK"

step() { printf '\n== %s\n' "$*"; }
started=$SECONDS

# --- 1. a Python with the app and PyInstaller -------------------------------------------------------
if [ -n "${REELDROP_BUILD_PYTHON:-}" ]; then
  PY="$REELDROP_BUILD_PYTHON"
  step "using $PY"
else
  step "build environment in build/venv"
  python3 -m venv "$ROOT/build/venv"
  PY="$ROOT/build/venv/bin/python"
  "$PY" -m pip install -q --upgrade pip
  # Not editable: what the package carries is what a user would install: the app, with This computer.
  "$PY" -m pip install -q "$ROOT[app]" -r "$ROOT/packaging/requirements-build.txt"
fi
"$PY" -c "import PyInstaller, app; print('PyInstaller', PyInstaller.__version__, '- ReelDrop', app.__version__)"

# --- 2. the onedir app ----------------------------------------------------------------------------
step "PyInstaller (packaging/reeldrop.spec)"
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$WORK/pyinstaller-dist" --workpath "$WORK/pyinstaller-work" packaging/reeldrop.spec

# --- 3. the tarball's tree: app + desktop integration -----------------------------------------------
step "staging $NAME"
rm -rf "$WORK/stage"
mkdir -p "$STAGE"
cp -a "$WORK/pyinstaller-dist/reeldrop/." "$STAGE/"
install -m 755 packaging/linux/reeldrop-server "$STAGE/reeldrop-server"
install -m 755 packaging/linux/install.sh "$STAGE/install.sh"
install -m 644 packaging/linux/README.txt "$STAGE/README.txt"
install -D -m 644 resources/reeldrop.desktop "$STAGE/share/applications/reeldrop.desktop"
install -D -m 644 resources/org.reeldrop.ReelDrop.metainfo.xml \
  "$STAGE/share/metainfo/org.reeldrop.ReelDrop.metainfo.xml"
install -D -m 644 resources/icons/reeldrop.svg "$STAGE/share/icons/hicolor/scalable/apps/reeldrop.svg"
for png in resources/icons/reeldrop-*.png; do
  size="${png##*-}"; size="${size%.png}"
  install -D -m 644 "$png" "$STAGE/share/icons/hicolor/${size}x${size}/apps/reeldrop.png"
done

if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate "$STAGE/share/applications/reeldrop.desktop"
else
  echo "desktop-file-validate not installed: .desktop file not validated (apt-get install desktop-file-utils)"
fi
if command -v appstreamcli >/dev/null; then
  appstreamcli validate --no-net "$STAGE/share/metainfo/org.reeldrop.ReelDrop.metainfo.xml"
else
  echo "appstreamcli not installed: metainfo not validated (apt-get install appstream)"
fi

# --- 4. the tarball --------------------------------------------------------------------------------
# xz, not gzip: 100 MB instead of 138 (the static ffmpeg alone packs to 50 MB instead of 68). `-T0` packs on
# every core (95 s on 2 here; 4 min 40 s on one), and every tar a Linux user has unpacks it (`tar -xf`).
step "dist/$NAME.tar.xz"
rm -f "$ROOT/dist/$NAME.tar.xz" "$ROOT/dist/$NAME.tar.gz"
XZ_OPT="-6 -T0" tar -C "$WORK/stage" --owner=0 --group=0 --numeric-owner -cJf "$ROOT/dist/$NAME.tar.xz" "$NAME"

# --- 5. an AppImage, where appimagetool can be had -------------------------------------------------
if command -v appimagetool >/dev/null; then
  step "dist/$NAME.AppImage"
  bash packaging/linux/make_appimage.sh "$STAGE" "$ROOT/dist/$NAME.AppImage"
else
  echo "appimagetool not on PATH: no AppImage (see docs/PACKAGING.md)"
fi

step "done in $((SECONDS - started)) s"
du -sh "$STAGE" | sed 's/\t.*/ unpacked/'
ls -l "$ROOT/dist/$NAME".*
