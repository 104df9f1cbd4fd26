"""Every link between the README and the docs leads somewhere: the file exists, and a #section is a heading
of it (GitHub's anchors: lower case, punctuation dropped, spaces as hyphens)."""

from __future__ import annotations

import re

from tests.conftest import ROOT
from tests.docs_walk.test_walk import docs_files

LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(text: str) -> set[str]:
    headings = re.findall(r"(?m)^#{1,6}\s+(.+?)\s*$", re.sub(r"(?ms)^```.*?^```", "", text))
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_relative_link_in_the_docs_leads_to_a_file_and_section_that_exist():
    checked = 0
    for page in docs_files():
        for target in LINK.findall(page.read_text()):
            if re.match(r"^[a-z]+:", target):  # https:, mailto:
                continue
            path, _, section = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.is_file(), f"{page.relative_to(ROOT)}: {target}: no such file"
            if section and linked.suffix == ".md":
                assert section in anchors(linked.read_text()), f"{page.relative_to(ROOT)}: {target}: no such section"
            checked += 1
    assert checked >= 10  # the README's links to its pages are among them
