"""What people and pipes see: --version, completion, colours and progress on a TTY only."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from kepler._stack import LocalStack
from kepler._version import __version__
from tests.cli.conftest import Run, clean_env

ESC = "\x1b"


def test_version_flag_and_command(run_in: Callable[..., Run], tmp_path: Path) -> None:
    kepler = run_in(clean_env(tmp_path / "home"))
    assert kepler("--version").stdout.strip() == __version__
    assert kepler("version").stdout.strip() == __version__


def test_help_offers_completion_and_every_verb(run_in: Callable[..., Run], tmp_path: Path) -> None:
    out = run_in(clean_env(tmp_path / "home"))("--help")
    assert out.returncode == 0
    assert "--install-completion" in out.stdout
    for verb in ("up", "models", "model", "jobs", "job", "fit", "apply", "automl", "validate"):
        assert f" {verb} " in out.stdout, verb
    assert ESC not in out.stdout


def test_piped_output_has_no_ansi_and_no_progress(kepler: Run, pumps_csv: Path) -> None:
    fitted = kepler("fit", str(pumps_csv), "LinearRegression temp from vibration into cli_piped")
    assert fitted.returncode == 0, fitted.stderr
    assert fitted.stderr == ""  # no progress bar when stderr is not a terminal
    outputs = [
        fitted.stdout,
        kepler("models").stdout,
        kepler("model", "show", "cli_piped").stdout,
        kepler("jobs").stdout,
        kepler("validate").stdout,
        kepler("model", "show", "cli_no_such").stderr,
    ]
    assert all(outputs[:5])
    for text in outputs:
        assert ESC not in text, text


def in_terminal(env: dict[str, str], *args: str) -> tuple[int, str]:
    """`kepler <args>` with stdout and stderr on a pseudo-terminal: (status, what it showed)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kepler", *args],
        env={**env, "COLUMNS": "200"},
        stdout=follower,
        stderr=follower,
        stdin=subprocess.DEVNULL,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(120), b"".join(chunks).decode(errors="replace")


def test_terminal_output_has_colour(tmp_path: Path) -> None:
    """The same table on a pseudo-terminal is coloured: the check above can fail."""
    code, text = in_terminal(clean_env(tmp_path / "home"), "validate")
    assert code == 2
    assert ESC + "[" in text and "not configured" in text


def test_terminal_fit_shows_a_progress_bar(
    cli_stack: LocalStack, pumps_csv: Path, tmp_path: Path
) -> None:
    env = clean_env(tmp_path / "home", KEPLER_URL=cli_stack.url, KEPLER_TOKEN=cli_stack.token)
    spec = "LinearRegression temp from vibration into cli_tty"
    code, text = in_terminal(env, "fit", str(pumps_csv), spec)
    assert code == 0, text
    # The bar's line: its name, percentage and elapsed time (no table has those).
    bar = [line for line in text.splitlines() if "fit" in line and "0:00:" in line]
    assert bar and "100%" in bar[-1], text
    assert "cli_tty@" in text


def test_json_is_parseable_even_on_errors(kepler: Run) -> None:
    out = kepler("models", "--json")
    assert out.returncode == 0
    assert isinstance(json.loads(out.stdout), list)
    missing = kepler("model", "show", "cli_no_such", "--json")
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.startswith("error: ")
