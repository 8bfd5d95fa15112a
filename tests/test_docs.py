"""The README and docs/: short README, links that resolve, no tracker history, the commands CI runs."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MAX_README_LINES = 250

FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"`[^`]*`")


def prose_lines(path: Path) -> list[str]:
    """The file's lines outside fenced code blocks (a `# comment` in a bash block is not a heading)."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.replace("`", "").replace("*", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, with GitHub's -1, -2 suffixes for repeats."""
    seen: dict[str, int] = {}
    out = set()
    for line in prose_lines(path):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def relative_links(path: Path) -> list[str]:
    """Targets of the Markdown links outside code that do not leave the repository (no scheme)."""
    targets = []
    for line in prose_lines(path):
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            targets.append(target)
    return targets


def test_slug_matches_github():
    assert slug("The projection") == "the-projection"
    assert slug("3. Packing") == "3-packing"
    assert slug("Export, batch classification, the widget") == "export-batch-classification-the-widget"
    assert slug("`export.classify` speed") == "exportclassify-speed"
    assert slug("Holding up to a classroom (details)") == "holding-up-to-a-classroom-details"


def test_readme_is_short():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines (at most {MAX_README_LINES}): move reference into docs/"


def test_readme_keeps_the_space_front_matter():
    text = README.read_text(encoding="utf-8")
    assert text.startswith("---\n"), "README.md must start with the Hugging Face Space front matter"
    front = text.split("---\n", 2)[1]
    for key in ("title:", "sdk: gradio", "sdk_version:", "app_file: app.py", "python_version:", "license:"):
        assert key in front, f"README front matter lacks {key!r}"


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(path: Path):
    problems = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            problems.append(f"{target}: {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest} does not exist")
            continue
        if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{target}: no heading with anchor #{anchor} in {dest.relative_to(ROOT)}")
    assert not problems, f"{path.relative_to(ROOT)}:\n" + "\n".join(problems)


def test_readme_has_no_tracker_history():
    text = README.read_text(encoding="utf-8")
    issues = re.findall(r"\bissues?\s+#?\d+|(?<![\w&])#\d+\b", text, flags=re.IGNORECASE)
    assert not issues, f"README.md refers to issues: {issues}"
    # a commit hash: 7-40 hex digits with at least one letter and one digit (not a word like "defaced")
    hashes = re.findall(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b", text)
    assert not hashes, f"README.md names commits: {hashes}"


def test_readme_commands_are_the_ones_ci_runs():
    readme = README.read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install = "python3.11 -m venv .venv && . .venv/bin/activate && pip install -r requirements.txt"
    tests = "pip install -r requirements-dev.txt && python -m pytest -q"
    for command in (install, "python app.py", tests):
        assert command in readme, f"README.md lacks the command {command!r}"
    assert "python3.11 -m venv" in ci
    assert re.search(r"pip install (-q )?-r requirements-dev\.txt", ci), ".ci/run does not install requirements-dev.txt"
    assert re.search(r"^python -m pytest -q\s*$", ci, flags=re.MULTILINE), ".ci/run does not run `python -m pytest -q`"
