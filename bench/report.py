"""What a section hands back (tables and notes) and how it becomes markdown."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    """A markdown table: the first column is left-aligned, the others right-aligned."""

    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    caption: str = ""

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def markdown(self) -> str:
        lines = [f"**{self.caption}**", ""] if self.caption else []
        lines.append("| " + " | ".join(self.header) + " |")
        lines.append("|" + "|".join(["---", *["---:"] * (len(self.header) - 1)]) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines)


@dataclass
class Section:
    """One section of ``docs/benchmarks.md``: prose and tables, in order."""

    title: str
    blocks: list[str | Table] = field(default_factory=list)

    def text(self, markdown: str) -> None:
        self.blocks.append(markdown.strip())

    def table(self, table: Table) -> None:
        self.blocks.append(table)

    def markdown(self) -> str:
        parts = [f"## {self.title}"]
        parts += [b.markdown() if isinstance(b, Table) else b for b in self.blocks]
        return "\n\n".join(parts)


def seconds(s: float) -> str:
    return f"{s:,.2f} s"


def rate(rows: int, s: float) -> str:
    return f"{rows / s:,.0f}" if s > 0 else "n/a"


def percent(x: float) -> str:
    return f"{100 * x:+.1f} %"


def share(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f} %"
