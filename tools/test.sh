#!/usr/bin/env bash
# Runs the whole test suite. Where gnome-keyring and D-Bus are installed, it runs inside a private D-Bus
# session with an unlocked throwaway keyring, so the keyring tests talk to a real Secret Service.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${REELDROP_TEST_DBUS:-}" ] && command -v dbus-run-session >/dev/null \
    && command -v gnome-keyring-daemon >/dev/null; then
  export REELDROP_TEST_DBUS=1
  exec dbus-run-session -- bash "$0" "$@"
fi
if [ -n "${REELDROP_TEST_DBUS:-}" ]; then
  # A throwaway login keyring in a private HOME, so a developer's own keyring is never touched.
  export HOME="${REELDROP_TEST_HOME:-$(mktemp -d)}"
  printf '%s' "reeldrop-test" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
fi
PY="${PYTHON:-python}"
if [ "$#" -gt 0 ]; then
  exec "$PY" -m pytest "$@"
fi
# The types first (pyproject.toml's [tool.mypy]): a None that can reach arithmetic fails here, in seconds.
"$PY" -m mypy
# Who may import whom (pyproject.toml's [tool.importlinter]): the core stays Qt-free and server-free.
lint-imports --no-cache
# The whole suite: the GUI tests get a process of their own, so no Qt event loop ever runs while the
# other tests' servers and threads come and go (and a GUI test's leftovers cannot reach them).
status=0
"$PY" -m pytest --ignore=tests/gui || status=$?
"$PY" -m pytest tests/gui || status=$?
exit "$status"
