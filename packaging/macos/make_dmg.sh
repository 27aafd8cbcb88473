#!/usr/bin/env bash
# Sign, package and notarize the macOS app (on macOS, after `pyinstaller packaging/reeldrop.spec`):
#
#   bash packaging/macos/make_dmg.sh [dist/ReelDrop.app]  → dist/ReelDrop-<version>-macos-<arch>.dmg
#
# Without the variables below the dmg is made unsigned (fine for testing; Gatekeeper will refuse it on
# other Macs). Signing and notarization are driven by the environment, so CI keeps the secrets:
#   CODESIGN_IDENTITY        "Developer ID Application: Name (TEAMID)" in the keychain → signs every
#                            binary in the app (hardened runtime, packaging/macos/entitlements.plist),
#                            the app and the dmg
#   CODESIGN_KEYCHAIN        optional keychain file that holds that identity (CI imports one)
#   and to notarize, either NOTARY_KEYCHAIN_PROFILE (made with `xcrun notarytool store-credentials`)
#   or all of APPLE_ID, TEAM_ID and APPLE_APP_PASSWORD (an app-specific password of that Apple ID).
# Notarization needs a signed app: the variables for it are ignored (with a warning) without
# CODESIGN_IDENTITY.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
APP="${1:-$ROOT/dist/ReelDrop.app}"
ENTITLEMENTS="$ROOT/packaging/macos/entitlements.plist"
VERSION="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$ROOT/app/__init__.py")"
DMG="$ROOT/dist/ReelDrop-${VERSION}-macos-$(uname -m).dmg"
[ -d "$APP" ] || { echo "make_dmg.sh: no $APP (run pyinstaller packaging/reeldrop.spec on macOS first)" >&2; exit 1; }

# Arrays are expanded as ${a[@]+"${a[@]}"}: macOS's bash 3.2 calls an empty array unbound under set -u.
keychain_args=()
if [ -n "${CODESIGN_KEYCHAIN:-}" ]; then keychain_args=(--keychain "$CODESIGN_KEYCHAIN"); fi

sign() {
  codesign --force --timestamp --options runtime --entitlements "$ENTITLEMENTS" \
    ${keychain_args[@]+"${keychain_args[@]}"} --sign "$CODESIGN_IDENTITY" "$@"
}

if [ -n "${CODESIGN_IDENTITY:-}" ]; then
  echo "== signing $APP as $CODESIGN_IDENTITY"
  # Inside out: every Mach-O file first (the bundled ffmpeg and Qt plugins included), then the app.
  # (`codesign --deep` would skip files it does not recognise as code, e.g. ffmpeg among the data.)
  find "$APP/Contents" -type f -print0 | while IFS= read -r -d '' file; do
    if file -b "$file" | grep -q "Mach-O"; then sign "$file"; fi
  done
  sign "$APP"
  codesign --verify --strict --verbose=2 "$APP"
else
  echo "== CODESIGN_IDENTITY not set: the app and the dmg stay unsigned"
fi

echo "== $DMG"
STAGING="$(mktemp -d)"
trap 'rm -rf "$STAGING"' EXIT
cp -R "$APP" "$STAGING/"
ln -s /Applications "$STAGING/Applications"
rm -f "$DMG"
hdiutil create -volname "ReelDrop $VERSION" -srcfolder "$STAGING" -fs HFS+ -format UDZO -ov "$DMG"
if [ -n "${CODESIGN_IDENTITY:-}" ]; then
  codesign --force --timestamp ${keychain_args[@]+"${keychain_args[@]}"} --sign "$CODESIGN_IDENTITY" "$DMG"
fi

notary_args=()
if [ -n "${NOTARY_KEYCHAIN_PROFILE:-}" ]; then
  notary_args=(--keychain-profile "$NOTARY_KEYCHAIN_PROFILE")
elif [ -n "${APPLE_ID:-}" ] && [ -n "${TEAM_ID:-}" ] && [ -n "${APPLE_APP_PASSWORD:-}" ]; then
  notary_args=(--apple-id "$APPLE_ID" --team-id "$TEAM_ID" --password "$APPLE_APP_PASSWORD")
fi
if [ ${#notary_args[@]} -gt 0 ] && [ -z "${CODESIGN_IDENTITY:-}" ]; then
  echo "warning: notarization credentials given but no CODESIGN_IDENTITY: Apple notarizes signed apps only" >&2
elif [ ${#notary_args[@]} -gt 0 ]; then
  echo "== notarizing (xcrun notarytool, waits for Apple's answer)"
  xcrun notarytool submit "$DMG" ${notary_args[@]+"${notary_args[@]}"} --wait
  xcrun stapler staple "$DMG"
  xcrun stapler validate "$DMG"
  spctl --assess --type open --context context:primary-signature --verbose=2 "$DMG"
else
  echo "== no notarization credentials: the dmg is not notarized"
fi
ls -l "$DMG"
