"""Jupyter notebooks (``.ipynb``): port the code cells, leave every other byte of the JSON alone.

How a notebook is ported:

1. The JSON is loaded (key order kept) and its layout detected: the indent, ``ensure_ascii`` and the
   trailing newline that make ``json.dumps`` reproduce the file exactly (nbformat writes ``indent=1``,
   ``ensure_ascii=False`` and a final newline). A notebook whose bytes no layout reproduces (duplicate
   keys, hand-edited spacing, ``1.00`` floats, CRLF) is never written: it is an error, "cannot
   preserve this notebook's JSON formatting", and only when it would change.
2. IPython syntax that is not Python is masked, line for line, at the start of a logical line: line
   magics ``%time x``, shell escapes ``!ls``, ``files = !ls``, help ``x?`` / ``?x``. Each becomes
   ``pass  # <marker>`` at the same indentation, so line numbers and blocks are kept, and is put back
   after the rewrite. A cell whose first line is a cell magic (``%%bash``, ``%%timeit``) is skipped
   whole. Notebooks of another kernel language are skipped.
3. Every code cell must parse on its own (IPython runs them one at a time). The masked cells are then
   joined, with a marker comment between cells, into one module and ported in one pass, so imports
   made in one cell resolve in the cells after it (``import torch`` in cell 1, ``torch.cuda`` in cell
   5) and the ``get_accelerator`` import is added once, next to the notebook's other imports.
4. The result is split back at the markers; each changed cell keeps its ``source`` shape (a list of
   lines or one string). Outputs, metadata and execution counts are untouched.

Findings are located as ``nb.ipynb:cell 3:2:5``: the ``Finding.path`` is ``nb.ipynb:cell 3``, the
line and column are within that cell. Cells are numbered from 1 counting **every** cell, markdown
and raw included, as they appear top to bottom in the notebook. Unused-suppression reports are not
produced for notebooks (they carry no cell).
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import warnings
from typing import Any, Dict, List, Optional, Tuple

from accelport.codemod.files.diff import lines as split_lines
from accelport.codemod.files.read import long_line
from accelport.codemod.results import FileResult, Finding
from accelport.codemod.settings import Settings
from accelport.codemod.engine.pipeline import applicable, transform_source
from accelport.rules.registry import rules_for

LAYOUT_ERROR = "cannot preserve this notebook's JSON formatting; notebook left unchanged"

# ``files = !ls``, ``t = %timeit -o f()``: an assignment from a magic or a shell command.
_MAGIC_ASSIGN = re.compile(r"[A-Za-z_][\w.]*(\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*[!%]")
# ``x?``, ``x.y??``, ``f()?`` and ``?x``, ``??x``: IPython help.
_HELP = re.compile(r"(\?{1,2}\s*[A-Za-z_%][\w.]*|[A-Za-z_][\w.]*(\(\))?\s*\?{1,2})\s*$")

Layout = Tuple[Optional[int], bool, str]


def is_ipython_line(stripped: str) -> bool:
    """True for a line (leading whitespace removed) that IPython, not Python, reads."""
    if stripped.startswith(("%", "!")):
        return True
    return bool(_MAGIC_ASSIGN.match(stripped) or _HELP.match(stripped))


def _is_cell_magic(text: str) -> bool:
    for line in text.split("\n"):
        if line.strip():
            return line.lstrip().startswith("%%")
    return False


class _Scanner:
    """Just enough of Python's tokenizer to tell whether a line starts a logical line."""

    def __init__(self) -> None:
        self.depth = 0
        self.triple: Optional[str] = None
        self.continued = False

    def at_logical_start(self) -> bool:
        return self.depth == 0 and self.triple is None and not self.continued

    def feed(self, line: str) -> None:
        body = line.rstrip("\r\n")
        i, n = 0, len(body)
        comment = False
        while i < n:
            if self.triple is not None:
                end = self._close(body, i, self.triple)
                if end < 0:
                    i = n
                    break
                self.triple, i = None, end
                continue
            c = body[i]
            if c == "#":
                comment = True
                break
            if c in "'\"":
                if body.startswith(c * 3, i):
                    self.triple, i = c * 3, i + 3
                    continue
                end = self._close(body, i + 1, c)
                i = n if end < 0 else end
                continue
            if c in "([{":
                self.depth += 1
            elif c in ")]}":
                self.depth = max(0, self.depth - 1)
            i += 1
        self.continued = self.triple is None and not comment and body.endswith("\\")

    @staticmethod
    def _close(body: str, i: int, quote: str) -> int:
        """Index just past the closing ``quote`` from ``i``, or -1 if the line ends first."""
        while i < len(body):
            if body[i] == "\\":
                i += 2
                continue
            if body.startswith(quote, i):
                return i + len(quote)
            i += 1
        return -1


def _token(text: str, stem: str) -> str:
    token, n = stem, 0
    while token in text:
        n += 1
        token = f"{stem}{n}"
    return token


def mask(text: str, token: str, start: int) -> Tuple[str, Dict[str, str]]:
    """``text`` with IPython lines replaced by ``pass  # <token>-<k>`` placeholders (k from ``start``);
    and placeholder line -> original line."""
    scanner = _Scanner()
    out: List[str] = []
    masked: Dict[str, str] = {}
    for line in split_lines(text):
        stripped = line.lstrip(" \t")
        if scanner.at_logical_start() and stripped.strip() and is_ipython_line(stripped.rstrip("\r\n")):
            indent = line[: len(line) - len(stripped)]
            newline = line[len(line.rstrip("\r\n")) :]
            placeholder = f"{indent}pass  # {token}-{start + len(masked)}"
            masked[placeholder] = line[: len(line) - len(newline)] if newline else line
            out.append(placeholder + newline)
            continue
        scanner.feed(line)
        out.append(line)
    return "".join(out), masked


def unmask(text: str, masked: Dict[str, str]) -> Optional[str]:
    """Put the masked lines back; None if a placeholder is missing or doubled (never written then)."""
    out: List[str] = []
    seen = 0
    for line in split_lines(text):
        body = line.rstrip("\r\n")
        if body in masked:
            out.append(masked[body] + line[len(body) :])
            seen += 1
        else:
            out.append(line)
    return "".join(out) if seen == len(masked) else None


def detect_layout(text: str, notebook: Any) -> Optional[Layout]:
    """(indent, ensure_ascii, tail) with which ``json.dumps`` gives back ``text`` exactly, or None."""
    for indent in (1, 2, 4, None):
        for ensure_ascii in (False, True):
            body = json.dumps(notebook, indent=indent, ensure_ascii=ensure_ascii)
            for tail in ("\n", ""):
                if len(body) + len(tail) == len(text) and body + tail == text:
                    return indent, ensure_ascii, tail
    return None


def dumps(notebook: Any, layout: Layout) -> str:
    indent, ensure_ascii, tail = layout
    return json.dumps(notebook, indent=indent, ensure_ascii=ensure_ascii) + tail


def _is_python(notebook: Dict[str, Any]) -> bool:
    metadata = notebook.get("metadata")
    if not isinstance(metadata, dict):
        return True
    for key, field in (("kernelspec", "language"), ("language_info", "name")):
        value = metadata.get(key)
        if isinstance(value, dict) and isinstance(value.get(field), str):
            return value[field].lower() in ("python", "python3", "ipython", "ipython3")
    return True


@dataclasses.dataclass
class _Cell:
    index: int  # position among all cells, 0-based
    text: str  # the source joined
    masked: str  # after masking, ending in a newline
    placeholders: Dict[str, str]
    added_newline: bool
    first_line: int = 0  # 1-based line of the cell's first line in the joined module


def cell_text(source: Any) -> Optional[str]:
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(part, str) for part in source):
        return "".join(source)
    return None


def _shaped(original: Any, text: str) -> Any:
    """``text`` in the shape of the original ``source``: one string, or a list of lines."""
    return text if isinstance(original, str) else split_lines(text)


def transform_notebook(text: str, path: str, settings: Settings, want_fixes: bool = False) -> FileResult:
    """Port the code cells of the notebook ``text``. Pure, never raises (like ``transform_source``)."""
    result = FileResult(path=path, old_text=text, new_text=text)
    try:
        return _transform(text, path, settings, want_fixes, result)
    except RecursionError:
        result.error = "notebook nested too deeply"
    except Exception as exc:  # noqa: BLE001 - the contract is: never raise, name the reason
        result.error = f"internal error: {type(exc).__name__}: {exc}"
    result.new_text, result.findings, result.fixes, result.counts = text, [], [], {}
    return result


def _transform(text: str, path: str, settings: Settings, want_fixes: bool, result: FileResult) -> FileResult:
    rules = rules_for(settings)
    if not applicable(text, rules):
        return result
    try:
        notebook = json.loads(text)
    except ValueError as exc:
        result.error = f"cannot parse notebook JSON: {exc}"
        return result
    cells_json = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells_json, list):
        result.error = "not an nbformat 4 notebook (no list of cells)"
        return result
    if not _is_python(notebook):
        return result
    marker = _token(text, "accelport-cell")
    token = _token(text, "accelport-ipython")
    cells: List[_Cell] = []
    for index, cell in enumerate(cells_json):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell_text(cell.get("source"))
        if source is None or not source.strip() or _is_cell_magic(source):
            continue
        masked, placeholders = mask(source, token, sum(len(c.placeholders) for c in cells))
        problem = _parse_error(masked)
        if problem is not None:
            result.error = f"cell {index + 1}: cannot parse: {problem}"
            return result
        long = long_line(masked, settings.max_line_length)
        if long is not None:
            result.error = (f"cell {index + 1}: line {long} is longer than the limit ({settings.max_line_length} "
                            "characters: max-line-length); left unchanged")
            return result
        added = not masked.endswith("\n")
        cells.append(_Cell(index, source, masked + ("\n" if added else ""), placeholders, added))
    if not cells or not applicable("".join(c.masked for c in cells), rules):
        return result
    joined: List[str] = []
    line = 1
    for number, cell in enumerate(cells):
        if number:
            joined.append(f"# {marker}-{number}\n")
            line += 1
        cell.first_line = line
        joined.append(cell.masked)
        line += cell.masked.count("\n")
    module_text = "".join(joined)
    from accelport.codemod.run import runner  # the runner imports this module

    too_deep = getattr(runner, "too_deep", None)  # nesting that would crash LibCST's native parser
    problem = too_deep(module_text) if too_deep is not None else None
    if problem is not None:
        result.error = problem
        return result
    ported = transform_source(module_text, path, settings, want_fixes)
    if ported.error is not None:
        result.error = ported.error
        return result
    result.counts = ported.counts
    result.findings = sorted(_locate(f, cells, path) for f in ported.findings)
    result.fixes = sorted(_locate(f, cells, path) for f in ported.fixes)
    if not ported.changed:
        return result
    problem = runner.verify(ported.old_text, ported.new_text, ported.allowed_lines)
    if problem is not None:
        result.error = problem
        return result
    pieces = _split(ported.new_text, marker, len(cells))
    if pieces is None:
        result.error = "internal error: the rewrite moved a cell boundary; notebook left unchanged"
        return result
    layout = detect_layout(text, notebook)
    if layout is None:
        result.error = LAYOUT_ERROR
        return result
    for cell, piece in zip(cells, pieces):
        new = unmask(piece, cell.placeholders)
        if new is None:
            result.error = f"internal error: cell {cell.index + 1} lost an IPython line; notebook left unchanged"
            return result
        if cell.added_newline and new.endswith("\n"):
            new = new[:-1]
        if new != cell.text:
            entry = cells_json[cell.index]
            entry["source"] = _shaped(entry["source"], new)
    result.new_text = dumps(notebook, layout)
    return result


def _parse_error(text: str) -> Optional[str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
    except SyntaxError as exc:
        return f"{exc.msg} (line {exc.lineno}, column {exc.offset})"
    except (ValueError, RecursionError, MemoryError) as exc:
        return str(exc) or type(exc).__name__
    return None


def _split(text: str, marker: str, count: int) -> Optional[List[str]]:
    pieces: List[List[str]] = [[]]
    expected = 1
    for line in split_lines(text):
        if line == f"# {marker}-{expected}\n":
            pieces.append([])
            expected += 1
        else:
            pieces[-1].append(line)
    if len(pieces) != count or marker in "".join(pieces[-1]) or any(marker in "".join(p) for p in pieces):
        return None
    return ["".join(p) for p in pieces]


def _locate(finding: Finding, cells: List[_Cell], path: str) -> Finding:
    """A finding on the joined module -> the same finding on its cell (``path:cell N``, cell lines)."""
    cell = cells[0]
    for candidate in cells:
        if candidate.first_line <= finding.line:
            cell = candidate
        else:
            break
    offset = cell.first_line - 1
    end_line = finding.end_line - offset if finding.end_line else 0
    return dataclasses.replace(
        finding, path=f"{path}:cell {cell.index + 1}", line=finding.line - offset, end_line=max(end_line, 0)
    )
