"""The README is the front door and docs/ the reference: what a newcomer follows must lead somewhere.

- every relative link in README.md, docs/*.md and benchmarks/README.md names a file or folder of
  the repository, and every #anchor a heading of its target (GitHub's slugs), so moving a section
  cannot leave a dead link behind;
- the README keeps its two set-up commands, its contents list, the Outputs table (fine_tune.run_folder's
  LAYOUT, also checked against a real run in test_stage_folders.py) and a front door's length;
- every config group and experiment preset is named in the README, and every benchmark script's
  command is in benchmarks/README.md beside the figures it measured.

No training, no model: reads Markdown files only (and run_folder's table).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
BENCHMARKS = REPO / "benchmarks" / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md")), BENCHMARKS]
FRONT_DOOR_LINES = 300  # the README is an overview (issue 22: ~250 lines); the reference lives in docs/

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks: a link or heading in a code block is not one."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text without markup, lower case, punctuation dropped
    (letters, digits, '_' and '-' kept), spaces as hyphens: "Weights & Biases" -> "weights--biases"."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor of a Markdown page: its headings' slugs (a repeated one numbered -1, -2, as GitHub
    does) and explicit <a id=...> anchors."""
    seen: Counter = Counter()
    found = set()
    for _, line in prose_lines(page.read_text(encoding="utf-8")):
        found.update(HTML_ANCHOR.findall(line))
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            found.add(base if not seen[base] else f"{base}-{seen[base]}")
            seen[base] += 1
    return found


def links(page: Path) -> list[tuple[int, str]]:
    """(line number, target) of every Markdown link outside code (blocks and spans)."""
    found = []
    for number, line in prose_lines(page.read_text(encoding="utf-8")):
        found += [(number, target) for target in LINK.findall(CODE_SPAN.sub("", line))]
    return found


def broken_links(page: Path) -> list[str]:
    """'file:line: target: why' for each relative link of `page` that does not resolve."""
    problems = []
    for number, target in links(page):
        if SCHEME.match(target):  # http:, https:, mailto:: not ours to check offline
            continue
        path, _, anchor = target.partition("#")
        where = f"{page.relative_to(REPO) if page.is_relative_to(REPO) else page.name}:{number}: {target}"
        resolved = (page.parent / path).resolve() if path else page
        if path and not resolved.exists():
            problems.append(f"{where}: no such file or folder")
            continue
        if path and page.is_relative_to(REPO) and not resolved.is_relative_to(REPO):
            problems.append(f"{where}: outside the repository")
            continue
        if anchor:
            if resolved.suffix != ".md" or not resolved.is_file():
                problems.append(f"{where}: an anchor into something that is not a Markdown file")
            elif anchor not in anchors(resolved):
                problems.append(f"{where}: no heading '#{anchor}' in {resolved.name}")
    return problems


def section(text: str, title_start: str) -> str:
    """The lines of the '## ' section whose title starts with `title_start`, up to the next '## '."""
    match = re.search(rf"^## {re.escape(title_start)}.*?$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no '## {title_start}...' section"
    return match.group(1)


# --- the link checker itself -------------------------------------------------------------------
@pytest.mark.parametrize("heading, expected", [
    ("Weights & Biases", "weights--biases"),
    ("Stages, chains, resuming", "stages-chains-resuming"),
    ("Curation (`data=curated`)", "curation-datacurated"),
    ("Seeded study (issue 20)", "seeded-study-issue-20"),
    ("Method comparison, one seed (superseded)", "method-comparison-one-seed-superseded"),
    ("The embedded base: capacity and pre-training", "the-embedded-base-capacity-and-pre-training"),
    ("Set-up: two commands", "set-up-two-commands"),
    ("[Claims](x.md), tested", "claims-tested"),
])
def test_slugs_are_github_s(heading, expected):
    assert slug(heading) == expected


def test_the_checker_finds_a_missing_file_a_missing_anchor_and_ignores_code(tmp_path):
    (tmp_path / "other.md").write_text("# Title\n\n## Part one\n\n## Part one\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[ok](other.md#part-one) [ok too](other.md#part-one-1) [self](#page) [web](https://example.com)\n"
        "[gone](missing.md) [no anchor](other.md#part-two) [not here](#nowhere)\n"
        "`[in code](missing.md)`\n\n```\n[in a block](missing.md)\n```\n",
        encoding="utf-8")
    problems = broken_links(page)
    assert len(problems) == 3, problems
    assert "missing.md: no such file" in problems[0]
    assert "no heading '#part-two' in other.md" in problems[1]
    assert "no heading '#nowhere' in page.md" in problems[2]


# --- every page -----------------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(page):
    assert page.is_file()
    assert links(page), f"{page.name} links nowhere: a page of the docs should lead on"
    assert broken_links(page) == []


def test_the_readme_links_every_page_of_the_docs():
    targets = {(README.parent / t.partition("#")[0]).resolve() for _, t in links(README) if not SCHEME.match(t)}
    assert [p.name for p in PAGES[1:] if p.resolve() not in targets] == []


# --- the README as a front door ----------------------------------------------------------------------
def test_the_readme_is_a_front_door():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= FRONT_DOOR_LINES, "move reference material to docs/, figures to benchmarks/README.md"


def test_set_up_has_exactly_the_two_commands_a_newcomer_copies():
    body = section(README.read_text(encoding="utf-8"), "Set-up")
    block = re.search(r"```bash\n(.*?)```", body, re.S)
    assert block, "the Set-up section has no bash block"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["make run", "make test"]


def test_the_contents_list_every_section_of_the_readme():
    text = README.read_text(encoding="utf-8")
    contents = section(text, "Contents")
    titles = [m.group(2) for _, line in prose_lines(text) if (m := HEADING.match(line)) and m.group(1) == "##"]
    assert len(titles) > 5
    assert [t for t in titles if slug(t) != "contents" and f"(#{slug(t)})" not in contents] == []


def test_the_outputs_table_is_run_folder_s_layout():
    from fine_tune.run_folder import layout_table

    text = README.read_text(encoding="utf-8")
    assert "### Outputs" in text and layout_table() in text


def test_every_config_group_and_experiment_is_named_in_the_readme():
    text = README.read_text(encoding="utf-8")
    tree = re.search(r"```text\nconf/\n(.*?)```", text, re.S)
    assert tree, "the README's config tree (```text conf/ ...) is gone"
    groups = sorted(p.name for p in (REPO / "conf").iterdir() if p.is_dir() and p.name != "hydra")
    assert [g for g in groups if not re.search(rf"^\s+{re.escape(g)}(/| ->)", tree.group(1), re.M)] == []
    presets = sorted(p.stem for p in (REPO / "experiments").glob("*.yaml"))
    assert [p for p in presets if not re.search(rf"\b{re.escape(p)}\b", tree.group(1))] == []


def test_every_benchmark_script_has_its_command_in_the_benchmarks_readme():
    text = BENCHMARKS.read_text(encoding="utf-8")
    scripts = sorted(p.name for p in (REPO / "benchmarks").iterdir() if p.suffix in (".py", ".sh"))
    assert [s for s in scripts if f"benchmarks/{s}" not in text] == []
