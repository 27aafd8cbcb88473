#!/usr/bin/env bash
# Smoke-test the Linux package the way a user meets it: unpacked somewhere, with no Python, no ffmpeg
# and no ReelDrop settings around.
#
#   bash packaging/linux/smoke_test.sh dist/reeldrop-<version>-linux-x86_64.tar.xz
#
# 1. the frozen CLI answers --version with the version in app/__init__.py (and `reeldrop server` too);
# 2. the frozen CLI takes a small generated clip end to end against its built-in backend (moto S3,
#    SQLite, the in-process worker), with REELDROP_HOME in a temp folder and a PATH without ffmpeg, so
#    the ffmpeg bundled in the package is the one used;
# 3. the frozen server (`reeldrop server`) starts, a user is created, signs in and uploads over HTTP;
#    where dbus-run-session and gnome-keyring are installed, the frozen CLI also stores its token in a
#    real Secret Service (proving the keyring back ends were bundled);
# 4. the frozen GUI starts on Qt's offscreen platform, connects to its built-in backend and quits
#    cleanly (REELDROP_SMOKE_TEST, see packaging/entry/reeldrop_gui.py).
# Every wait is bounded. Exit status 0 only if every check passed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARBALL="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
EXPECTED_VERSION="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$ROOT/app/__init__.py")"
STEP_TIMEOUT="${REELDROP_SMOKE_TIMEOUT:-300}"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then kill "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
pass() { printf 'PASS  %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*" >&2; exit 1; }
started=$SECONDS

tar -xf "$TARBALL" -C "$WORK"
APP="$(find "$WORK" -mindepth 1 -maxdepth 1 -type d -name 'reeldrop-*')"
if [ ! -x "$APP/reeldrop" ] || [ ! -x "$APP/reeldrop-gui" ]; then fail "no reeldrop and reeldrop-gui in $TARBALL"; fi
FFMPEG="$(find "$APP/_internal/imageio_ffmpeg/binaries" -name 'ffmpeg-*' -type f | head -n 1)"
[ -x "$FFMPEG" ] || fail "no bundled ffmpeg in $APP/_internal/imageio_ffmpeg/binaries"
pass "unpacked $(basename "$TARBALL") ($(du -sh "$APP" | cut -f1) on disk)"

# The frozen programs see no ffmpeg, no Python and no user settings: only the package (and the two
# coreutils the reeldrop-server wrapper uses).
mkdir -p "$WORK/empty-bin"
for tool in readlink dirname; do ln -s "$(command -v "$tool")" "$WORK/empty-bin/$tool"; done
unset REELDROP_FFMPEG REELDROP_FFPROBE REELDROP_SERVER REELDROP_TOKEN REELDROP_HOME PYTHONPATH PYTHONHOME
frozen() {
  timeout "$STEP_TIMEOUT" env PATH="$WORK/empty-bin" HOME="$WORK/home" \
    REELDROP_HOME="${HOME_DIR:-$WORK/reeldrop-home}" "$@"
}
# For `… &`: a function run in the background is a subshell, and a SIGTERM to its PID ($!) ends the subshell
# alone, leaving the server running after the test. exec makes that PID `timeout`'s own, which passes the
# signal on to the server and waits for it to stop.
frozen_exec() {
  exec timeout "$STEP_TIMEOUT" env PATH="$WORK/empty-bin" HOME="$WORK/home" \
    REELDROP_HOME="${HOME_DIR:-$WORK/reeldrop-home}" "$@"
}

# --- 1. versions -----------------------------------------------------------------------------------
version_line="$(frozen "$APP/reeldrop" --version)"
[ "$version_line" = "reeldrop $EXPECTED_VERSION" ] || fail "reeldrop --version said '$version_line', want $EXPECTED_VERSION"
server_line="$(frozen "$APP/reeldrop-server" --version)"
[ "$server_line" = "reeldrop-server $EXPECTED_VERSION" ] || fail "reeldrop-server --version said '$server_line'"
pass "--version: $version_line; $server_line"

# No binary may need a library that the spec dropped (DROPPED_BINARIES in packaging/reeldrop.spec).
missing="$(find "$APP/_internal" -name '*.so*' -type f -print0 \
  | LD_LIBRARY_PATH="$APP/_internal" xargs -0 ldd 2>/dev/null \
  | grep -E 'lib(gtk-3|gdk-3|cairo|pango|atk|epoxy|harfbuzz|Qt6EglFS)[^ ]* => not found' | sort -u)" || true
[ -z "$missing" ] || fail "bundled libraries need dropped ones: $missing"
pass "no bundled library needs one the spec dropped"

# --- 2. a clip end to end with the built-in backend -----------------------------------------------
CLIP="$WORK/clip.mp4"
"$FFMPEG" -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=320x240:rate=25 \
  -f lavfi -i sine=frequency=440 -t 2 -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest "$CLIP" \
  || fail "the bundled ffmpeg could not make a test clip"
pass "the bundled ffmpeg made a 2 s test clip ($(wc -c <"$CLIP") bytes)"

if frozen "$APP/reeldrop" run --help >/dev/null 2>&1; then
  # The whole pipeline: compress → upload → process → download the results.
  frozen "$APP/reeldrop" run "$CLIP" --preset 480p >"$WORK/run.out" 2>"$WORK/run.err" \
    || { cat "$WORK/run.out" "$WORK/run.err" >&2; fail "reeldrop run failed"; }
  results="$(find "$WORK/reeldrop-home/output" -type f 2>/dev/null | wc -l)"
  [ "$results" -gt 0 ] || { cat "$WORK/run.out" "$WORK/run.err" >&2; fail "reeldrop run left no results"; }
  pass "reeldrop run --preset 480p on the built-in backend: $results result file(s)"
else
  # >>> SWITCH TO `run`: the CLI has no `run` command yet, so this checks the closest end-to-end path
  # >>> (upload through the built-in backend). Once `reeldrop run` exists the branch above is taken by
  # >>> itself; set REELDROP_SMOKE_REQUIRE_RUN=1 (CI should) to make a missing `run` a failure.
  [ "${REELDROP_SMOKE_REQUIRE_RUN:-0}" = 1 ] && fail "the frozen CLI has no 'run' command"
  echo "NOTE  the frozen CLI has no 'run' command yet: checking 'reeldrop upload' on the built-in backend"
  frozen "$APP/reeldrop" upload "$CLIP" --json >"$WORK/upload.out" 2>"$WORK/upload.err" \
    || { cat "$WORK/upload.out" "$WORK/upload.err" >&2; fail "reeldrop upload (built-in backend) failed"; }
  grep -q '"error": null' "$WORK/upload.out" || { cat "$WORK/upload.out" >&2; fail "upload reported an error"; }
  pass "reeldrop upload on the built-in backend: $(grep -o '"s3_key": "[^"]*"' "$WORK/upload.out")"
fi

# --- 3. the frozen server over HTTP ----------------------------------------------------------------
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
  2>/dev/null || echo $((20000 + RANDOM % 20000)))"
URL="http://127.0.0.1:$PORT"
SERVER_DATA="$WORK/server-data"
frozen_exec "$APP/reeldrop-server" --data-dir "$SERVER_DATA" serve --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 120); do
  grep -q "Application startup complete" "$WORK/server.log" && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; fail "reeldrop server exited at start"; }
  sleep 0.5
done
grep -q "Application startup complete" "$WORK/server.log" || { cat "$WORK/server.log" >&2; fail "server not up in 60 s"; }
pass "reeldrop server is up on $URL"

printf 'smoke-password-123\n' | frozen "$APP/reeldrop-server" --data-dir "$SERVER_DATA" create-user smoke \
  --password-stdin >/dev/null || fail "create-user failed"
TOKEN="$(printf 'smoke-password-123\n' | frozen "$APP/reeldrop" login --server "$URL" -u smoke --password-stdin \
  --print-token 2>"$WORK/login.err" | tail -n 1)" || { cat "$WORK/login.err" >&2; fail "login failed"; }
[ -n "$TOKEN" ] || fail "login printed no token"
REELDROP_TOKEN="$TOKEN" HOME_DIR="$WORK/remote-home" frozen "$APP/reeldrop" upload --server "$URL" "$CLIP" --json \
  >"$WORK/remote.out" 2>"$WORK/remote.err" || { cat "$WORK/remote.out" "$WORK/remote.err" >&2; fail "upload failed"; }
grep -q '"error": null' "$WORK/remote.out" || { cat "$WORK/remote.out" >&2; fail "upload to the server failed"; }
pass "created a user, signed in and uploaded to the frozen server"

if command -v curl >/dev/null; then
  # The frozen worker processes the upload (ffmpeg renditions, thumbnails …) and serves the results ZIP.
  upload_id="$(grep -o '"upload_id": "[^"]*"' "$WORK/remote.out" | head -n 1 | cut -d'"' -f4)"
  auth=(-H "Authorization: Bearer $TOKEN")
  job_id="$(curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -d "{\"upload_id\": \"$upload_id\"}" \
    "$URL/api/upload/create-job" | grep -o '"job_id": *"[^"]*"' | cut -d'"' -f4)"
  [ -n "$job_id" ] || fail "the server created no job for upload $upload_id"
  status=""
  for _ in $(seq 1 240); do
    status="$(curl -fsS "${auth[@]}" "$URL/api/jobs/$job_id" | grep -o '"status": *"[^"]*"' | head -n 1 | cut -d'"' -f4)"
    case "$status" in completed|partial|failed|cancelled) break ;; esac
    sleep 0.5
  done
  [ "$status" = completed ] || { tail -n 40 "$WORK/server.log" >&2; fail "job $job_id ended '$status'"; }
  curl -fsS -L "${auth[@]}" -o "$WORK/results.zip" "$URL/api/jobs/$job_id/results.zip" || fail "no results.zip"
  [ "$(head -c 2 "$WORK/results.zip")" = "PK" ] || fail "results.zip is not a ZIP"
  pass "the frozen worker processed the clip: job $status, results.zip $(wc -c <"$WORK/results.zip") bytes"
else
  echo "NOTE  curl not installed: the job-processing check on the frozen server is skipped"
fi

if command -v dbus-run-session >/dev/null && command -v gnome-keyring-daemon >/dev/null; then
  # A private D-Bus session with a throwaway keyring: the frozen CLI must find the Secret Service.
  export APP URL WORK STEP_TIMEOUT
  # shellcheck disable=SC2016  # expanded by the inner bash, inside the private D-Bus session
  keyring_out="$(dbus-run-session -- bash -c '
    export HOME="$WORK/keyring-home"; mkdir -p "$HOME"
    printf "%s" smoke | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    printf "smoke-password-123\n" | timeout "$STEP_TIMEOUT" env PATH="$WORK/empty-bin" \
      REELDROP_HOME="$WORK/keyring-reeldrop" "$APP/reeldrop" login --server "$URL" -u smoke --password-stdin 2>&1
  ')" || { echo "$keyring_out" >&2; fail "login with a Secret Service failed"; }
  echo "$keyring_out" | grep -q "the token is kept in" || { echo "$keyring_out" >&2; fail "token not kept in keyring"; }
  echo "$keyring_out" | grep -qi "memory only" && { echo "$keyring_out" >&2; fail "the frozen CLI found no keyring"; }
  pass "the frozen CLI keeps its token in the Secret Service: ${keyring_out##*kept in }"
else
  echo "NOTE  dbus-run-session/gnome-keyring not installed: the keyring check is skipped"
fi

kill -TERM "$SERVER_PID"
for _ in $(seq 1 60); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.5; done
kill -0 "$SERVER_PID" 2>/dev/null && fail "reeldrop server did not stop within 30 s of SIGTERM"
SERVER_PID=""
pass "reeldrop server stopped on SIGTERM"

# --- 4. the GUI, offscreen -------------------------------------------------------------------------
gui_status=0
QT_QPA_PLATFORM=offscreen REELDROP_SMOKE_TEST=120 HOME_DIR="$WORK/gui-home" \
  frozen "$APP/reeldrop-gui" >"$WORK/gui.out" 2>"$WORK/gui.err" || gui_status=$?
if [ "$gui_status" -ne 0 ] || grep -q "Traceback" "$WORK/gui.err"; then
  cat "$WORK/gui.out" "$WORK/gui.err" >&2
  fail "the GUI exited with status $gui_status (3: never connected; 124: hung)"
fi
grep -q "connected to its backend" "$WORK/gui.err" || { cat "$WORK/gui.err" >&2; fail "the GUI never connected"; }
ready="$(grep -ho 'ready in [0-9.]* s' "$WORK/gui-home/log/reeldrop.log" "$WORK/gui.err" 2>/dev/null | head -n 1)" || true
pass "the GUI started offscreen, connected to its built-in backend (${ready:-its start-up time not logged}) and quit cleanly"

echo "smoke test passed in $((SECONDS - started)) s"
