"""manage.py and `make manage` without ceremony: the quickstart's key, the repo's .venv.

Each test works in a copy of the repo's entry points (manage.py, the Makefile, the
imageservice package; the apps and .venv linked), so the quickstart's data/ it makes is
the copy's, never the repo's.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service import REPO


@pytest.fixture
def checkout(tmp_path) -> Path:
    for name in ("manage.py", "Makefile", "requirements.txt"):
        shutil.copy2(REPO / name, tmp_path / name)  # mtimes kept: make sees .venv up to date
    shutil.copytree(REPO / "imageservice", tmp_path / "imageservice")  # BASE_DIR: the copy
    for name in ("images", "access"):
        (tmp_path / name).symlink_to(REPO / name)
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    return tmp_path


def quickstart_env(**extra: str) -> dict[str, str]:
    """The environment of a shell after `make run`: no SECRET_KEY, no DATABASE_URL."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    for name in ("SECRET_KEY", "DATABASE_URL", "MEDIA_ROOT", "STATIC_ROOT", "CACHE_URL"):
        env.pop(name, None)
    return {**env, **extra}


def manage(checkout: Path, *args: str, python: str = sys.executable, **env: str):
    return subprocess.run(
        [python, "manage.py", *args],
        cwd=checkout,
        env=quickstart_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_manage_py_takes_the_quickstart_key_for_the_quickstart_data(checkout):
    (checkout / "data").mkdir()
    (checkout / "data" / "secret_key").write_text("the-quickstart-key\n")

    assert manage(checkout, "migrate", "--no-input").returncode == 0
    listed = manage(checkout, "images_token", "list")

    assert listed.returncode == 0, listed.stderr
    assert "No tokens yet" in listed.stderr
    assert (checkout / "data" / "db.sqlite3").exists()


@pytest.mark.parametrize(
    "env",
    [
        {},  # no data/secret_key: `make run` never ran here
        {"DATABASE_URL": "sqlite:////nonexistent/db.sqlite3"},  # a deployment's database
    ],
)
def test_manage_py_without_a_key_says_so_in_one_line_and_uses_no_default(checkout, env):
    if env:
        (checkout / "data").mkdir()
        (checkout / "data" / "secret_key").write_text("the-quickstart-key\n")

    done = manage(checkout, "images_token", "list", **env)

    assert done.returncode != 0
    assert "SECRET_KEY is not set" in done.stderr
    assert "Traceback" not in done.stderr


def test_manage_py_run_by_a_python_without_django_starts_again_under_the_venv(checkout, tmp_path):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", bare], check=True)
    bare_python = str(bare / "bin" / "python")
    assert subprocess.run([bare_python, "-c", "import django"], capture_output=True).returncode

    done = manage(checkout, "check", python=bare_python, SECRET_KEY="set-by-the-reader")

    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout


def test_make_manage_makes_the_key_and_the_database_and_runs_the_command(checkout):
    done = subprocess.run(
        ["make", "--no-print-directory", "manage", "ARGS=images_token list"],
        cwd=checkout,
        env=quickstart_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert done.returncode == 0, done.stderr
    assert "No tokens yet" in done.stderr
    assert (checkout / "data" / "secret_key").stat().st_size > 40
    assert (checkout / "data" / "db.sqlite3").exists()
