"""`reeldrop login` and `reeldrop logout`: the backend token lives in the OS keyring, never in a file.

With no usable keyring the token stays in memory only, which for a one-shot command means it is gone
when the command ends: login says so, revokes that orphan token (unless --print-token hands it to the
user for REELDROP_TOKEN), and writes nothing to disk.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from app.commands.common import error, warn
from app.connect import TOKEN_ENV, Target, resolve_target
from app.core.api import AuthRequired, BackendClient, BackendError
from app.core.credentials import CredentialStoreError, MemoryCredentialStore, open_credential_store
from app.core.settings import SettingsError


def add_parsers(commands: argparse._SubParsersAction) -> None:
    login = commands.add_parser("login", help="sign in to a ReelDrop server; the token goes to the keyring")
    login.add_argument("--server", metavar="URL", help="backend URL (default: REELDROP_SERVER or the profile)")
    login.add_argument("--username", "-u", metavar="NAME")
    login.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    login.add_argument("--print-token", action="store_true", help=f"print the token (for {TOKEN_ENV} in scripts)")
    login.set_defaults(run=login_command)
    logout = commands.add_parser("logout", help="revoke the token and delete it from the keyring")
    logout.add_argument("--server", metavar="URL", help="backend URL (default: REELDROP_SERVER or the profile)")
    logout.set_defaults(run=logout_command)


def _remote_target(server: str | None) -> Target | None:
    try:
        target = resolve_target(server)
    except SettingsError as exc:
        error(str(exc))
        return None
    if target.embedded:
        print("This computer uses the built-in backend: no sign-in is needed (use --server URL for a server).")
    return target


def login_command(args: argparse.Namespace) -> int:
    target = _remote_target(args.server)
    if target is None:
        return 2
    if target.server_url is None:
        return 0
    username = args.username or input("User name: ").strip()
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else getpass.getpass("Password: ")
    client = BackendClient(target.server_url)
    try:
        token = client.login(username, password)
    except AuthRequired:
        error(f"{target.server_url} refused the sign-in: wrong user name or password")
        return 1
    except BackendError as exc:
        error(exc.detail)
        return 1
    store = open_credential_store()
    saved_in = None
    if store.persistent:
        try:
            store.set_token(target.profile, target.server_url, token)
            saved_in = store.describe()
        except CredentialStoreError as exc:
            warn(str(exc))
    if saved_in:
        print(f"Signed in to {target.server_url} as {username}; the token is kept in {saved_in}.")
    else:
        reason = store.reason if isinstance(store, MemoryCredentialStore) and store.reason else "it failed"
        warn(
            f"no usable keyring ({reason}). The token is kept in memory only and is forgotten when this"
            " command ends; nothing was written to disk. For scripts, set "
            f"{TOKEN_ENV} to a token (`reeldrop login --print-token` prints one)."
        )
        if not args.print_token:
            client.logout()  # nobody holds this token any more: do not leave it valid on the server
            print(f"The sign-in to {target.server_url} as {username} works, but the token was not kept.")
    if args.print_token:
        print(token, flush=True)
    return 0


def logout_command(args: argparse.Namespace) -> int:
    target = _remote_target(args.server)
    if target is None:
        return 2
    if target.server_url is None:
        return 0
    store = open_credential_store()
    try:
        token = store.get_token(target.profile, target.server_url)
    except CredentialStoreError as exc:
        error(str(exc))
        return 1
    if token is None:
        print(f"Not signed in to {target.server_url} (no token in {store.describe()}).")
        return 0
    try:
        BackendClient(target.server_url, token).logout()
        revoked = True
    except BackendError as exc:
        warn(f"could not revoke the token on the server ({exc.detail}); deleting it here anyway")
        revoked = False
    try:
        store.delete_token(target.profile, target.server_url)
    except CredentialStoreError as exc:
        error(str(exc))
        return 1
    done = "revoked the token and deleted" if revoked else "deleted"
    print(f"Signed out of {target.server_url}: {done} it from {store.describe()}.")
    return 0
