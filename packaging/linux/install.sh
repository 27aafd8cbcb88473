#!/usr/bin/env bash
# Put ReelDrop in the desktop menu and on PATH, from wherever this folder was unpacked.
#
#   ./install.sh                 for this user (~/.local)
#   sudo ./install.sh --prefix /usr/local
#   ./install.sh --uninstall     (with the same --prefix)
#
# The app stays in this folder; the menu entry, icons and commands point to it.
set -euo pipefail
APP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX="${HOME}/.local"
ACTION=install
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="$2"; shift 2 ;;
    --prefix=*) PREFIX="${1#--prefix=}"; shift ;;
    --uninstall) ACTION=uninstall; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

COMMANDS=(reeldrop reeldrop-gui reeldrop-server)
DESKTOP="$PREFIX/share/applications/reeldrop.desktop"
METAINFO="$PREFIX/share/metainfo/org.reeldrop.ReelDrop.metainfo.xml"

refresh_caches() {
  if command -v update-desktop-database >/dev/null; then
    update-desktop-database -q "$PREFIX/share/applications" || true
  fi
  if command -v gtk-update-icon-cache >/dev/null; then
    gtk-update-icon-cache -q -t "$PREFIX/share/icons/hicolor" || true
  fi
}

if [ "$ACTION" = uninstall ]; then
  for command in "${COMMANDS[@]}"; do rm -f "$PREFIX/bin/$command"; done
  rm -f "$DESKTOP" "$METAINFO"
  find "$PREFIX/share/icons/hicolor" -path '*/apps/reeldrop.*' -delete 2>/dev/null || true
  refresh_caches
  echo "ReelDrop removed from $PREFIX (this folder, $APP_DIR, is left as it is)."
  exit 0
fi

mkdir -p "$PREFIX/bin" "$(dirname "$DESKTOP")" "$(dirname "$METAINFO")"
for command in "${COMMANDS[@]}"; do ln -sfn "$APP_DIR/$command" "$PREFIX/bin/$command"; done
# An absolute Exec: the desktop session's PATH often lacks ~/.local/bin.
sed -e "s|^Exec=reeldrop-gui|Exec=$APP_DIR/reeldrop-gui|" -e "s|^TryExec=reeldrop-gui|TryExec=$APP_DIR/reeldrop-gui|" \
  "$APP_DIR/share/applications/reeldrop.desktop" > "$DESKTOP"
cp "$APP_DIR/share/metainfo/org.reeldrop.ReelDrop.metainfo.xml" "$METAINFO"
(cd "$APP_DIR/share" && find icons -type f) | while read -r icon; do
  install -D -m 644 "$APP_DIR/share/$icon" "$PREFIX/share/$icon"
done
refresh_caches
echo "ReelDrop installed: menu entry $DESKTOP, commands in $PREFIX/bin (reeldrop, reeldrop-gui, reeldrop-server)."
