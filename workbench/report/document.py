"""A Qt-free report model: sections of paragraphs, tables, figures (PNG bytes) and code.

Content is assembled here from plain data and rendered elsewhere (``workbench.report.pdf``), so
the report's words can be tested without Qt and the renderer can change without touching them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    caption: str = ""
    key_value: bool = False  # a two-column "name: value" table (no header row shown)


@dataclass
class Figure:
    png: bytes
    caption: str
    width: int   # pixels of the PNG
    height: int


@dataclass
class Code:
    text: str


Block = Union[str, Table, Figure, Code]


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 2              # 1: a run's chapter heading, 2: a section
    page_break: bool = False    # start on a new page


@dataclass
class Report:
    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)

    def figures(self) -> list[Figure]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]

    def text(self) -> str:
        """All words of the report (for tests and searching), without figures."""
        out = [self.title, self.subtitle]
        for s in self.sections:
            out.append(s.title)
            for b in s.blocks:
                if isinstance(b, str):
                    out.append(b)
                elif isinstance(b, Table):
                    out += [b.caption, " ".join(b.header)] + [" ".join(r) for r in b.rows]
                elif isinstance(b, Code):
                    out.append(b.text)
                else:
                    out.append(b.caption)
        return "\n".join(t for t in out if t)
