"""Inputs/outputs tables of every module README, generated from variables.tf / outputs.tf.

Each README keeps its hand-written text; the part between `<!-- BEGIN_TF_DOCS -->` and
`<!-- END_TF_DOCS -->` (terraform-docs' markers) is generated. `--check` fails when a README is stale.

    python infra/scripts/module_docs.py --write   # refresh infra/README.md and infra/modules/*/README.md
    python infra/scripts/module_docs.py --check   # what tf-check runs
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

INFRA = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"


def blocks(text: str, kind: str) -> list[tuple[str, str]]:
    """(name, body) of every top-level `kind "name" {` block, brace-balanced (strings respected)."""
    out = []
    for m in re.finditer(rf'^{kind}\s+"([^"]+)"\s*\{{', text, re.M):
        i, depth, in_str = m.end(), 1, False
        while depth:
            ch = text[i]
            if ch == '"' and text[i - 1] != "\\":
                in_str = not in_str
            elif not in_str:
                depth += {"{": 1, "}": -1}.get(ch, 0)
            i += 1
        out.append((m.group(1), text[m.end() : i - 1]))
    return out


def attr(body: str, key: str) -> str | None:
    """A top-level attribute's source text (strings, heredocs and bracketed values spanning lines)."""
    m = re.search(rf"^  {key}\s*=\s*", body, re.M)
    if not m:
        return None
    rest = body[m.end() :]
    if rest.startswith("<<"):
        tag = re.match(r"<<-?(\w+)", rest).group(1)  # type: ignore[union-attr]
        text = rest.split("\n", 1)[1].split(tag, 1)[0]
        return " ".join(line.strip() for line in text.strip().splitlines())
    if rest.startswith('"'):
        return re.match(r'"((?:[^"\\]|\\.)*)"', rest).group(1)  # type: ignore[union-attr]
    depth, i = 0, 0
    while i < len(rest):
        ch = rest[i]
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(ch, 0)
        if ch == "\n" and depth <= 0:
            break
        i += 1
    return rest[:i].strip()


def cell(text: str | None, limit: int = 80) -> str:
    if text is None:
        return "n/a"
    text = re.sub(r"\s+", " ", text).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render(module_dir: Path) -> str:
    variables = (
        blocks((module_dir / "variables.tf").read_text(), "variable") if (module_dir / "variables.tf").exists() else []
    )
    outputs = blocks((module_dir / "outputs.tf").read_text(), "output") if (module_dir / "outputs.tf").exists() else []
    lines = [BEGIN, "## Inputs", "", "| Name | Description | Type | Default | Required |", "|---|---|---|---|:-:|"]
    for name, body in sorted(variables):
        default = attr(body, "default")
        sensitive = " (sensitive)" if re.search(r"^  sensitive\s*=\s*true", body, re.M) else ""
        shown = f"`{cell(default, 60)}`" if default is not None else "n/a"
        required = "no" if default is not None else "yes"
        lines.append(
            f"| `{name}` | {cell(attr(body, 'description'), 200)}{sensitive} | `{cell(attr(body, 'type'), 60)}` | "
            f"{shown} | {required} |"
        )
    lines += ["", "## Outputs", "", "| Name | Description |", "|---|---|"]
    lines += [f"| `{name}` | {cell(attr(body, 'description'), 200)} |" for name, body in sorted(outputs)]
    lines.append(END)
    return "\n".join(lines)


def targets() -> list[Path]:
    return [INFRA, *sorted(p for p in (INFRA / "modules").iterdir() if p.is_dir())]


def updated(readme: Path, generated: str) -> str:
    current = readme.read_text() if readme.exists() else f"# {readme.parent.name}\n\n"
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        return head + generated + rest.split(END, 1)[1]
    return current.rstrip() + "\n\n" + generated + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python infra/scripts/module_docs.py", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the generated sections")
    mode.add_argument("--check", action="store_true", help="exit 1 if any README is out of date")
    args = parser.parse_args(argv)
    stale = []
    for module_dir in targets():
        readme = module_dir / "README.md"
        new = updated(readme, render(module_dir))
        if readme.exists() and readme.read_text() == new:
            continue
        if args.write:
            readme.write_text(new)
            print(f"wrote {readme.relative_to(INFRA.parent)}")
        else:
            stale.append(str(readme.relative_to(INFRA.parent)))
    if stale:
        print("stale README inputs/outputs (run `python infra/scripts/module_docs.py --write`):")
        print("\n".join(f"  {s}" for s in stale))
        return 1
    if args.check:
        print(f"{len(targets())} READMEs list every input and output")
    return 0


if __name__ == "__main__":
    sys.exit(main())
