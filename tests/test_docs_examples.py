"""The README's examples run, in order, as pasted, against a live service.

Which blocks run: every ```sh block in a section whose heading is followed by a line
``<!-- runnable ... -->``, down to the next heading of the same or a higher level; all of
them in README order, in one bash (``set -euo pipefail``: a variable never set, such as an
``$OTHER_ID`` no line assigns, stops the run). A section added later (tags, renditions,
history, ...) joins by carrying the marker; its blocks run after those above it and see
their variables.

What each answer must be: 2xx, unless the command's comment starts with another status and
a colon or the line's end (``curl $API/images/$ID   # 404: {"code": "not_found"}``; ``# 204``);
then exactly that status. Every curl the blocks contain must answer at least once.

What the test gives the blocks, and nothing else: a folder holding ``plate-7.jpg`` (a
photo-like plate made with Pillow), the service at ``http://127.0.0.1:8000`` (the README's
address) swapped for a live server on 127.0.0.1 and an ephemeral port, and the README's
``https://images.lab.example`` swapped for an HTTP origin on 127.0.0.1 serving the files
the blocks fetch (so the service must allow private URLs, as a lab's own server needs).
A ``curl`` function wraps the real curl to report each answer's status on stderr.
"""

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from tests.factories import encode, plate_photo, with_changed_region

README = Path(settings.BASE_DIR) / "README.md"
RUNNABLE = re.compile(r"<!--\s*runnable\b")
HEADING = re.compile(r"(#{1,6})\s")
FENCE = re.compile(r"```(\S*)")
# A comment starting with a status: "# 404", "# 400: {...}" (not "# 200x200 crop").
EXPECTED = re.compile(r"(?:^|\s)#\s*([1-5]\d\d)(?::|\s*$)")
ANSWER = re.compile(r"^readme-answer (\d+) (\d{3})$", re.M)
README_SERVICE = "http://127.0.0.1:8000"
README_ORIGIN = "https://images.lab.example"

# Wraps curl: every answer's status on stderr, with the line of the script that asked.
CURL_WRAPPER = r"""
unset BASH_ENV  # read by this bash only, not by scripts it starts (python3 may be one)
set -euo pipefail
curl() {
    command curl --no-progress-meter \
        --write-out "%{stderr}readme-answer ${BASH_LINENO[0]} %{http_code}\n" "$@"
}
"""


@dataclass(frozen=True)
class Command:
    readme_line: int  # where it starts in README.md (1-based)
    script_lines: range  # its lines in the script the blocks make
    text: str
    expected: int | None  # the status its comment names; None: any 2xx


@dataclass(frozen=True)
class Script:
    text: str
    commands: list[Command]
    sections: list[str]  # the runnable sections' headings, in order


def runnable_script(markdown: str) -> Script:
    """The sh blocks of the runnable sections, in order, as one script."""
    lines = markdown.splitlines()
    sections, script, commands = [], [], []
    runnable_level = None  # the heading level of the runnable section we are in
    in_block = fence = None
    for number, line in enumerate(lines, start=1):
        if in_block is not None:
            if line.startswith("```"):
                in_block = None
            elif fence == "sh":
                script.append((number, line))
            continue
        if match := FENCE.match(line):
            in_block, fence = number, match.group(1) if runnable_level else None
            continue
        if match := HEADING.match(line):
            level = len(match.group(1))
            if runnable_level and level <= runnable_level:
                runnable_level = None
            following = next((later for later in lines[number:] if later.strip()), "")
            if RUNNABLE.match(following.strip()):
                runnable_level = level
                sections.append(line.lstrip("#").strip())
    position = 0
    while position < len(script):
        start = position
        while script[position][1].endswith("\\") and position + 1 < len(script):
            position += 1
        text = "\n".join(line for _, line in script[start : position + 1])
        found = [EXPECTED.search(line) for _, line in script[start : position + 1]]
        expected = next((int(match.group(1)) for match in found if match), None)
        commands.append(Command(script[start][0], range(start + 1, position + 2), text, expected))
        position += 1
    return Script("\n".join(line for _, line in script) + "\n", commands, sections)


def run(script: Script, *, service: str, origin: str, folder: Path) -> list[str]:
    """Run the script in ``folder``; the problems found, one line each (none: all good)."""
    text = script.text.replace(README_SERVICE, service).replace(README_ORIGIN, origin)
    (folder / "readme.sh").write_text(text)
    (folder / "curl-wrapper.sh").write_text(CURL_WRAPPER)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(folder),
        "BASH_ENV": str(folder / "curl-wrapper.sh"),  # read by bash before the script
    }
    done = subprocess.run(
        ["bash", "readme.sh"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # a hang fails instead of holding the suite
    )
    answers = [(int(line), int(code)) for line, code in ANSWER.findall(done.stderr)]
    problems = []
    for command in script.commands:
        statuses = [code for line, code in answers if line in command.script_lines]
        where = f"README.md line {command.readme_line}: {command.text.strip()}"
        if "curl" in command.text and not statuses:
            problems.append(f"{where}\n    never answered (the run stopped before it?)")
        for status in statuses:
            if command.expected is None and not 200 <= status < 300:
                problems.append(f"{where}\n    answered {status}, the README promises 2xx")
            elif command.expected is not None and status != command.expected:
                problems.append(
                    f"{where}\n    answered {status}, the README says {command.expected}"
                )
    if done.returncode != 0:
        problems.append(f"bash exited {done.returncode}:\n{done.stderr[-3000:]}")
    return problems


@pytest.fixture
def service(live_server, settings, origin, tmp_path):
    """The live service, the origin serving the README's URL, and the folder to run in."""
    settings.IMAGES_ALLOW_PRIVATE_URLS = True  # the origin is on 127.0.0.1
    photo = plate_photo((800, 600))
    (tmp_path / "plate-7.jpg").write_bytes(encode(photo, "JPEG", quality=90))
    again = with_changed_region(photo, (500, 100, 560, 160))  # the same plate, imaged again
    origin.serve("/plates/7-again.jpg", encode(again, "JPEG", quality=90), "image/jpeg")
    return live_server.url, origin.base, tmp_path


@pytest.mark.django_db(transaction=True)
def test_the_readme_examples_run_in_order_as_pasted(service):
    script = runnable_script(README.read_text())
    url, origin, folder = service

    assert "Examples" in script.sections
    for placeholder in (README_SERVICE, README_ORIGIN):
        assert placeholder in script.text  # else the swap below no longer applies
    assert url.startswith("http://127.0.0.1:")
    problems = run(script, service=url, origin=origin, folder=folder)

    assert problems == [], "\n".join(problems)


MARKED = """# Title

## Not run
```sh
curl http://127.0.0.1:8000/api/v1/not-run   # a 404, were it run
```

## Runnable
<!-- runnable -->

```sh
API=http://127.0.0.1:8000/api/v1
curl $API/images/                     # any 2xx
```

### Inside it
```sh
curl $API/no-such-path                # 404
curl $API/images/ \\
     -H 'Accept: application/json'    # 200
```
```json
{"not": "a shell block"}
```

## After it
```sh
curl $API/never
```
"""


def test_only_the_sh_blocks_under_a_runnable_heading_are_taken_with_their_statuses():
    script = runnable_script(MARKED)

    assert script.sections == ["Runnable"]
    assert [(c.readme_line, c.expected) for c in script.commands if "curl" in c.text] == [
        (13, None),
        (18, 404),
        (19, 200),
    ]
    assert "not-run" not in script.text
    assert "never" not in script.text
    assert "not a shell block" not in script.text


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ("curl $API/no-such-path", "answered 404, the README promises 2xx"),
        ("curl $API/images/   # 404", "answered 200, the README says 404"),
        ("curl $API/images/$NEVER_SET", "never answered"),
    ],
)
@pytest.mark.django_db(transaction=True)
def test_an_answer_the_readme_does_not_promise_is_a_problem(service, block, problem):
    markdown = f"## Ex\n<!-- runnable -->\n```sh\nAPI={README_SERVICE}/api/v1\n{block}\n```\n"
    url, origin, folder = service

    problems = run(runnable_script(markdown), service=url, origin=origin, folder=folder)

    assert any(problem in line for line in problems), problems
