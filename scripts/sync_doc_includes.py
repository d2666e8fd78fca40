"""Fill every `<!-- include: PATH -->` ... `<!-- end include -->` block of a doc with the
file at PATH (repo-relative) in a fenced block, so the docs show the very files the tests
use. `python scripts/sync_doc_includes.py docs/canary.md` rewrites; `--check` only compares.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- include: (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- end include -->)", re.S)


def render(text: str) -> str:
    def fill(match: re.Match[str]) -> str:
        path = match.group("path")
        lang = "yaml" if path.endswith((".yaml", ".yml")) else ""
        content = (ROOT / path).read_text()
        return f"{match.group(1)}```{lang}\n{content.rstrip()}\n```\n{match.group(4)}"

    return BLOCK.sub(fill, text)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    status = 0
    for name in (a for a in argv if not a.startswith("--")):
        path = ROOT / name
        text = path.read_text()
        new = render(text)
        if new != text:
            if check:
                print(f"{name}: included files changed; run scripts/sync_doc_includes.py {name}")
                status = 1
            else:
                path.write_text(new)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
