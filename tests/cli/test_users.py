"""`ledger users deactivate`, on both stores: the user's token stops authenticating."""

from __future__ import annotations

import subprocess
import sys

from ledger.application import LedgerApplication


def ledger(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "users", *args, "--database-url", url],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deactivate_stops_the_token(store_url):
    added = ledger(store_url, "add", "--role", "guardian", "--name", "Leaving guardian")
    assert added.returncode == 0, added.stderr
    user_id = added.stdout.split()[1]
    token = added.stdout.splitlines()[1].split()[1]

    missing = ledger(store_url, "deactivate", user_id, "--reason", " ")
    # Usage errors exit 2, like the CLI's other usage errors; refusals by the ledger exit 1.
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")
    bad = ledger(store_url, "deactivate", "not-a-uuid", "--reason", "left")
    assert bad.returncode == 2 and "UUID" in bad.stderr

    done = ledger(store_url, "deactivate", user_id, "--reason", "custody ended")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"user {user_id} deactivated"
    twice = ledger(store_url, "deactivate", user_id, "--reason", "custody ended")
    assert twice.returncode == 1 and twice.stderr.startswith("error: state-conflict")

    app = LedgerApplication(database_url=store_url)
    try:
        assert app.authenticate(token) is None
        assert app.user(user_id).active is False
    finally:
        app.close()
