"""Every example of the README and the docs site runs, as pasted, against a live service.

Which blocks run: every ```sh block of README.md and of the pages under docs/, page by page
in the site's order (README first, then mkdocs.yml's nav, then any page it does not list),
each page in a bash of its own (``set -euo pipefail``: a variable never set stops the run),
so that a reader who lands on one page can paste its blocks without the pages before it.
A page's ```python blocks run after its shell blocks, as one script, and must exit 0.

Blocks that cannot run as pasted on a developer's machine, or would change it (docker,
systemd, a server configured otherwise, management commands on the machine's own database,
installing a package, settings to put in an environment file) use another fence: ```console
or ```text. Nothing else is skipped.

What each answer must be: 2xx, unless the command's comment starts with another status and
a colon or the line's end (``curl $API/images/$ID   # 404: {"code": "not_found"}``; ``# 204``);
then exactly that status. Every curl a page contains must answer at least once.

What the blocks get, as a reader has it after `make run` (and the client installed, for
the lab's page): the service under gunicorn as
`make run` starts it, at http://127.0.0.1:8000 (the address the pages name), with
IMAGES_ALLOW_PRIVATE_URLS=true, which the URL examples say they need to fetch from this
machine; a folder holding a copy of the repo's examples/ (the sample photos). Nothing is
rewritten. When port 8000 is taken, the service listens on another and PORT names it, as
`make run PORT=...` would: the pages build their address as ``${PORT:-8000}``. A ``curl``
function wraps the real curl to report each answer's status on stderr.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.service import REPO, Gunicorn, free_port

DOCS = REPO / "docs"
FENCE = re.compile(r"^```(\S*)")
# A comment starting with a status: "# 404", "# 400: {...}" (not "# 200x200 crop").
EXPECTED = re.compile(r"(?:^|\s)#\s*([1-5]\d\d)(?::|\s*$)")
ANSWER = re.compile(r"^docs-answer (\d+) (\d{3})$", re.M)
URL_HOST = re.compile(r"https?://([^/:\s'\"$]+)")

# Wraps curl: every answer's status on stderr, with the line of the script that asked.
CURL_WRAPPER = r"""
unset BASH_ENV  # read by this bash only, not by scripts it starts (python3 may be one)
set -euo pipefail
curl() {
    command curl --no-progress-meter \
        --write-out "%{stderr}docs-answer ${BASH_LINENO[0]} %{http_code}\n" "$@"
}
"""


@dataclass(frozen=True)
class Command:
    page_line: int  # where it starts in its page (1-based)
    script_lines: range  # its lines in the script the blocks make
    text: str
    expected: int | None  # the status its comment names; None: any 2xx


@dataclass(frozen=True)
class Script:
    text: str
    commands: list[Command]


def pages() -> list[Path]:
    """README.md, then the site's pages in the nav's order, then those it does not list."""
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())

    def listed(entries) -> list[str]:
        found = []
        for entry in entries:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            found += listed(value) if isinstance(value, list) else [value]
        return found

    ordered = [DOCS / name for name in listed(config["nav"])]
    rest = sorted(set(DOCS.rglob("*.md")) - set(ordered))
    return [REPO / "README.md"] + [page for page in ordered + rest if page.exists()]


def blocks(markdown: str, language: str) -> list[tuple[int, str]]:
    """The lines of the page's fenced blocks in ``language``, with their line numbers."""
    found, fence = [], None
    for number, line in enumerate(markdown.splitlines(), start=1):
        if fence is not None:
            if line.startswith("```"):
                fence = None
            elif fence == language:
                found.append((number, line))
        elif match := FENCE.match(line):
            fence = match.group(1)
    return found


def shell_script(markdown: str) -> Script:
    """The page's sh blocks, in order, as one script, and the commands in it."""
    lines = blocks(markdown, "sh")
    commands = []
    position = 0
    while position < len(lines):
        start = position
        while lines[position][1].endswith("\\") and position + 1 < len(lines):
            position += 1
        text = "\n".join(line for _, line in lines[start : position + 1])
        found = [EXPECTED.search(line) for _, line in lines[start : position + 1]]
        expected = next((int(match.group(1)) for match in found if match), None)
        commands.append(Command(lines[start][0], range(start + 1, position + 2), text, expected))
        position += 1
    return Script("\n".join(line for _, line in lines) + "\n", commands)


def run_shell(script: Script, *, name: str, folder: Path, env: dict[str, str]) -> list[str]:
    """Run the script in ``folder``; the problems found, one line each (none: all good)."""
    (folder / "page.sh").write_text(script.text)
    (folder / "curl-wrapper.sh").write_text(CURL_WRAPPER)
    done = subprocess.run(
        ["bash", "page.sh"],
        cwd=folder,
        env={**env, "BASH_ENV": str(folder / "curl-wrapper.sh")},  # read before the script
        capture_output=True,
        text=True,
        timeout=180,  # a hang fails instead of holding the suite
    )
    answers = [(int(line), int(code)) for line, code in ANSWER.findall(done.stderr)]
    problems = []
    for command in script.commands:
        statuses = [code for line, code in answers if line in command.script_lines]
        where = f"{name} line {command.page_line}: {command.text.strip()}"
        if "curl" in command.text and not statuses:
            problems.append(f"{where}\n    never answered (the run stopped before it?)")
        for status in statuses:
            if command.expected is None and not 200 <= status < 300:
                problems.append(f"{where}\n    answered {status}, the page promises 2xx")
            elif command.expected is not None and status != command.expected:
                problems.append(f"{where}\n    answered {status}, the page says {command.expected}")
    if done.returncode != 0:
        problems.append(f"bash exited {done.returncode}:\n{done.stderr[-3000:]}")
    return problems


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """The service as `make run` starts it, on port 8000 when that is free."""
    port = 8000 if port_is_free(8000) else free_port()
    folder = tmp_path_factory.mktemp("service")
    with Gunicorn(
        folder, port=port, SECRET_KEY="docs-examples", IMAGES_ALLOW_PRIVATE_URLS="true"
    ) as server:
        yield server


@pytest.fixture
def reader(service, tmp_path):
    """A reader's shell: the examples folder beside it, and PORT when it is not 8000."""
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    # The virtualenv's scripts first: `python3` with the repo's requirements, and `imgsvc`,
    # the lab's client, installed as docs/guide/from-the-lab.md says (requirements-dev.txt).
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {"PATH": path, "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    if service.port != 8000:
        env["PORT"] = str(service.port)
    return tmp_path, env


@pytest.mark.parametrize("page", pages(), ids=lambda page: str(page.relative_to(REPO)))
def test_the_page_examples_run_as_pasted(page, reader):
    markdown = page.read_text()
    folder, env = reader
    name = str(page.relative_to(REPO))
    problems = []

    script = shell_script(markdown)
    if script.commands:
        problems += run_shell(script, name=name, folder=folder, env=env)
    python = blocks(markdown, "python")
    if python:
        (folder / "page.py").write_text("\n".join(line for _, line in python) + "\n")
        done = subprocess.run(
            [sys.executable, "page.py"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            problems.append(f"{name}: its python blocks exited {done.returncode}:\n{done.stderr}")

    assert problems == [], "\n".join(problems)


def test_the_readme_and_the_guide_have_examples_to_run():
    runnable = {
        str(page.relative_to(REPO)) for page in pages() if shell_script(page.read_text()).commands
    }

    assert {"README.md", "docs/guide/api.md", "docs/guide/renditions.md"} <= runnable


@pytest.mark.parametrize("page", pages(), ids=lambda page: str(page.relative_to(REPO)))
def test_the_examples_ask_this_machine_only(page):
    markdown = page.read_text()
    code = "\n".join(line for _, line in blocks(markdown, "sh") + blocks(markdown, "python"))

    assert set(URL_HOST.findall(code)) <= {"127.0.0.1"}


def test_the_readme_is_a_front_door():
    readme = (REPO / "README.md").read_text()

    assert len(readme.splitlines()) <= 220
    assert "make run" in readme
    assert "make test" in readme


@pytest.mark.parametrize("page", pages(), ids=lambda page: str(page.relative_to(REPO)))
def test_the_docs_name_no_issue_numbers(page):
    assert not re.search(r"\bissues? \d+", page.read_text(), re.IGNORECASE)


MARKED = """# Title

```sh
API=http://127.0.0.1:${PORT:-8000}/api/v1
curl $API/images/                     # any 2xx
```

Some prose.

```sh
curl $API/no-such-path                # 404
curl $API/images/ \\
     -H 'Accept: application/json'    # 200
```
```json
{"not": "a shell block"}
```
```console
$ docker compose up
```
"""


def test_every_sh_block_is_taken_with_its_statuses_and_no_other_fence():
    script = shell_script(MARKED)

    assert [(c.page_line, c.expected) for c in script.commands if "curl" in c.text] == [
        (5, None),
        (11, 404),
        (12, 200),
    ]
    assert "not a shell block" not in script.text
    assert "docker" not in script.text


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ("curl $API/no-such-path", "answered 404, the page promises 2xx"),
        ("curl $API/images/   # 404", "answered 200, the page says 404"),
        ("curl $API/images/$NEVER_SET", "never answered"),
    ],
)
def test_an_answer_the_page_does_not_promise_is_a_problem(reader, block, problem):
    markdown = f"```sh\nAPI=http://127.0.0.1:${{PORT:-8000}}/api/v1\n{block}\n```\n"
    folder, env = reader

    problems = run_shell(shell_script(markdown), name="page.md", folder=folder, env=env)

    assert any(problem in line for line in problems), problems
