#!/usr/bin/env python3
"""Checks every relative link in the repository's Markdown files.

Run by `make test` and `make check-docs`. For each *.md file of the
repository (not under target/, .local/, .git/ or fuzz corpora), every inline
link or image `[text](target)` and every reference definition `[id]: target`
outside code is checked:

- a relative target must stay inside the repository (a clone cannot open
  ../shared/handbook or anything else beside it) and must exist;
- a `#anchor`, on its own or after a Markdown file, must name a heading of
  that file (GitHub's heading ids) or an explicit `id`/`name` anchor.

A mention of the team handbook (`shared/handbook/…`, `INTERFACES.md`), even
as code, is reported too: its contents are in docs/contracts.md.

Absolute URLs (http:, https:, mailto: …) are not fetched. Exits 1 with one
line per broken link, 0 when every link resolves.

    tests/check_links.py [REPO_ROOT]
"""

import os
import re
import sys
from pathlib import Path
from urllib.parse import unquote

SKIP_DIRS = {".git", "target", ".local", "node_modules", "corpus", "__pycache__"}
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
CODE_SPAN = re.compile(r"(`+)(?:.+?)\1")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"""<a\s[^>]*(?:name|id)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
OUTSIDE = re.compile(r"shared/handbook|INTERFACES\.md")


def markdown_files(root):
    """Every *.md file under root, skipping build output, state and fuzz corpora."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            if name.endswith(".md"):
                yield Path(folder) / name


def prose_lines(text):
    """(line number, line) outside fenced code blocks, with code spans blanked."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if match:
            if fence is None:
                fence = match.group(1)
            elif match.group(1) == fence:
                fence = None
            continue
        if fence is None and not line.startswith("    "):
            yield number, CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)


def slug(heading):
    """GitHub's id for a heading: rendered text, lower case, punctuation dropped, spaces → hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links → their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").replace("*", "")
    text = text.strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(path, cache={}):
    """Every anchor a Markdown file offers (heading ids, with -1, -2… for repeats)."""
    if path not in cache:
        found, seen = set(), {}
        text = path.read_text(encoding="utf-8", errors="replace")
        fence = None
        for line in text.splitlines():
            match = FENCE.match(line)
            if match:
                if fence is None:
                    fence = match.group(1)
                elif match.group(1) == fence:
                    fence = None
                continue
            if fence is not None:
                continue
            heading = HEADING.match(line)
            if heading:
                base = slug(heading.group(2))
                n = seen.get(base, 0)
                seen[base] = n + 1
                found.add(base if n == 0 else f"{base}-{n}")
            found.update(HTML_ANCHOR.findall(line))
        cache[path] = found
    return cache[path]


def targets(path):
    """(line number, link target) of every link in a Markdown file."""
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, line in prose_lines(text):
        for match in INLINE.finditer(line):
            yield number, match.group(1)
        reference = REFERENCE.match(line)
        if reference:
            yield number, reference.group(1)


def check(root):
    """One line per broken link under root."""
    problems = []
    for path in markdown_files(root):
        where = path.relative_to(root)
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                problems.append(f"{where}:{number}: names the team handbook, which a clone cannot open; "
                                "point to docs/contracts.md")
        for number, raw in targets(path):
            target = raw[1:-1] if raw.startswith("<") and raw.endswith(">") else raw
            if not target or SCHEME.match(target) or target.startswith("//"):
                continue
            file_part, _, anchor = target.partition("#")
            file_part = unquote(file_part)
            resolved = (path.parent / file_part).resolve() if file_part else path.resolve()
            if file_part.startswith("/"):
                problems.append(f"{where}:{number}: {raw}: absolute path; use a path relative to this file")
                continue
            try:
                resolved.relative_to(root)
            except ValueError:
                problems.append(f"{where}:{number}: {raw}: leaves the repository")
                continue
            if not resolved.exists():
                problems.append(f"{where}:{number}: {raw}: no such file or folder")
                continue
            if anchor and resolved.is_file() and resolved.suffix == ".md":
                if unquote(anchor) not in anchors(resolved):
                    problems.append(f"{where}:{number}: {raw}: no heading or anchor #{anchor} in "
                                    f"{resolved.relative_to(root)}")
    return problems


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent).resolve()
    problems = check(root)
    files = sum(1 for _ in markdown_files(root))
    if problems:
        print(f"check_links: {len(problems)} broken link(s) in the Markdown files:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"check_links: every relative link in {files} Markdown files resolves inside the repository")
    return 0


if __name__ == "__main__":
    sys.exit(main())
