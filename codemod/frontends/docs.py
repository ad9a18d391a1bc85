"""The rule documentation, generated from the rule docstrings so that it cannot drift.

``python -m accelport.codemod.frontends.docs`` rewrites ``docs/rules.md``, the table between the
``rules-table`` markers in ``README.md`` and the one between the ``targets-table`` markers in
``docs/targets.md`` (from ``accelport.rules.torch_native``); a test fails when a committed copy is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence, Type

from accelport.rules.base import Rule
from accelport.rules.registry import ALL_RULES
from accelport.rules.torch_native import ACCELERATOR_METHODS, FALLBACK, TORCH_NATIVE

BY_CODE = tuple(sorted(ALL_RULES, key=lambda rule: rule.CODE))
START, END = "<!-- rules-table:start -->", "<!-- rules-table:end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(rules: Sequence[Type[Rule]] = BY_CODE) -> str:
    rows = ["| code | name | does | default | summary |", "|---|---|---|---|---|"]
    for rule in rules:
        kind = "fixes" if rule.FIXES else "reports"
        default = "on" if rule.DEFAULT else "off"
        rows.append(f"| {rule.CODE} | [`{rule.NAME}`](docs/rules.md#{rule.NAME}) | {kind} | {default} | {_cell(rule.summary())} |")
    return "\n".join(rows) + "\n"


GUARDS = """\
## Guards

`torch.cuda.is_available()`, `x.is_cuda`, `x.device.type == "cuda"`, `"cuda" in str(device)` and
`backend == "nccl"` ask "am I on CUDA?". Their accelerator forms are true on the CPU accelerator too, so
`rewrite` decides by what the guard protects: the body, the `else` branch, the branch of a conditional
expression, the operands after it in an `and`, or the rest of the block after `if not ...: return` or
an `assert`.

- Everything under it ported or portable: the guard becomes the accelerator's question.
- Anything under it still CUDA-only (a finding inside it, a `torch.cuda` name or `.cuda()` call or CUDA
  literal no selected rule rewrote, a vendor library or compiled extension such as apex, triton,
  flash_attn, bitsandbytes, cupy, pynvml, exllama or a `*_cuda`, `*_ext`, `*_kernels` or `_C` module,
  cuDNN flags, `cpp_extension`, CUDA's autocast API (`torch.get_autocast_gpu_dtype()`,
  `torch.is_autocast_enabled()` without a device type), `nvcc`, `fused=True`, a `device_map` of device
  numbers, an assert on `torch.cuda.device_count()`, float16 or a string chosen for CUDA; a function,
  method or module-level name of the same file that reaches one of those, such as
  `def ext_gemm(x): return gemm(x)` over an extension's `gemm`; also an `elif` for another backend
  after it, an `else` or exit whose message says CUDA or GPU, a fallback that picks "cpu" where CUDA
  is missing, a check of results against the CPU's (`allclose(cpu_out, gpu_out.cpu())`), an `else`
  that does work of its own rather than only choosing the CPU or repeating the CUDA side (a float32
  default, a `raise`, a message that says "CPU": the ported question would skip it on the CPU)):
  `is_available()` becomes
  `get_accelerator().device_name() == "cuda"`; `.is_cuda` and string comparisons stay as written and
  are reported, naming what keeps them. Port that code, then the guard.
- A question stored in a local name, a module-level name or a `self` attribute
  (`use_cuda = torch.cuda.is_available()`, `self.on_gpu = x.is_cuda`) is followed to the tests that read
  it (`if use_cuda:`, `... if self.on_gpu else ...`, `assert use_cuda`) in its function, module or
  class, and decided by what they guard together. Where any read is something else (returned, passed
  on, stored again, read by another object or another class of the file) it is not followed: it
  becomes or stays the CUDA question (reported where left), except as a `non_blocking=`/`pin_memory=`
  argument or in a printed message.
- `torch.cuda.device_count()` compared with a number (`== 0`, `>= 1`, `> 1`) is such a question too
  (the accelerator's count is 1 on the CPU): where it stays CUDA's it is left as written, which is 0 off
  CUDA, and reported. A test skip (`self.skipTest`, `pytest.skip`, `raise SkipTest`,
  `return unittest.skip(...)`, a `skipIf`/`skipUnless`/`skipif` condition) is always CUDA's decision.
  In the last `else` of a chain that already asks about other backends (`elif is_xpu_available():`)
  the count is left as written and reported: there the author meant CUDA devices, 0 without them.

A comparison with the backend in use (`dist.get_backend() == "nccl"`) is the exception: it is already
right on every backend, since only CUDA runs use NCCL, so it always stays as written; it is reported
where it guards CUDA-only code, and where it chooses gloo (`new_group(backend="gloo")`): that asks
"can the backend carry CPU tensors?", which other accelerators' backends answer no to as well.

What counts as ported depends on the rules selected: with `--select torch-cuda-call` alone a
`.cuda()` call under a guard keeps it a CUDA question.
"""


def rules_page(rules: Sequence[Type[Rule]] = BY_CODE) -> str:
    parts = [
        "# accelport rules\n",
        "Generated from the rule docstrings by `python -m accelport.codemod.frontends.docs`; do not edit by hand.\n",
        "Codes: AP1xx are the porting rules (AP101 is §1 of the porting guide, AP109 is §9); AP9xx are "
        "advisory rules, off unless selected. A code is never reused for a different rule.\n",
        GUARDS,
    ]
    for rule in rules:
        body = rule.doc().split("\n", 1)
        rest = body[1].strip() if len(body) > 1 else ""
        kind = "fixes" if rule.FIXES else "reports only"
        default = "on by default" if rule.DEFAULT else "off by default (`--select " + rule.NAME + "`)"
        parts.append(f"## {rule.NAME}\n\n`{rule.CODE}` · {kind} · {default}\n\n{body[0]}\n\n{rest.replace('## ', '### ')}\n")
    return "\n".join(parts)


def readme_with_table(readme: str) -> str:
    return _between(readme, START, END, table(), "README")


TARGETS_START, TARGETS_END = "<!-- targets-table:start -->", "<!-- targets-table:end -->"


def targets_table() -> str:
    """Each accelerator method the rules emit, and what ``--target torch`` writes for it."""
    rows = ["| accelerator method | `--target torch` writes | why |", "|---|---|---|"]
    for method in sorted(ACCELERATOR_METHODS, key=lambda name: (name.lower(), name)):
        native = TORCH_NATIVE.get(method)
        if native is not None:
            rows.append(f"| `{method}` | `{native.target}(...)` | {_cell(native.note)} |")
        else:
            rows.append(f"| `{method}` | `get_accelerator().{method}` (kept) | {_cell(FALLBACK[method])} |")
    return "\n".join(rows) + "\n"


CAPS_START, CAPS_END = "<!-- capabilities-table:start -->", "<!-- capabilities-table:end -->"


def capabilities_table() -> str:
    """Every member some runtime falls short on, per runtime version and backend (rules/capabilities.py)."""
    from accelport.rules.capabilities import BACKENDS, MEMBERS, PROFILES

    columns = [(profile, backend) for profile in PROFILES for backend in BACKENDS]
    head = " | ".join(f"{profile.label} {backend}" for profile, backend in columns)
    rows = [f"| member | {head} |", "|---|" + "---|" * len(columns)]
    for member in MEMBERS:
        cells = []
        for profile, backend in columns:
            gap = profile.gaps.get(backend, {}).get(member)
            cells.append("yes" if gap is None else _cell(f"**{gap.kind}**{' (left, reported)' if gap.refuse else ''}: {gap.what}"))
        if any(cell != "yes" for cell in cells):
            rows.append(f"| `{member}` | " + " | ".join(cells) + " |")
    rows.append("")
    rows.append("Builders `create_op_builder` knows: " + "; ".join(
        f"{profile.label} {backend}: " + ("every builder of its package" if names is None else ", ".join(sorted(names)))
        for profile in PROFILES
        for backend, names in profile.builders.items()
    ) + ".")
    rows.append("")
    rows.append("Sources: " + "; ".join(f"{profile.label}: {profile.source}" for profile in PROFILES) + ".")
    return "\n".join(rows) + "\n"


def targets_with_table(page: str) -> str:
    page = _between(page, TARGETS_START, TARGETS_END, targets_table(), "docs/targets.md")
    return _between(page, CAPS_START, CAPS_END, capabilities_table(), "docs/targets.md")


def _between(text: str, start_marker: str, end_marker: str, content: str, where: str) -> str:
    head, start, rest = text.partition(start_marker)
    if not start:
        raise ValueError(f"{where} has no {start_marker} marker")
    _, end, tail = rest.partition(end_marker)
    return f"{head}{start_marker}\n{content}{end_marker}{tail}"


def main(root: Path) -> int:
    (root / "docs").mkdir(exist_ok=True)
    (root / "docs" / "rules.md").write_text(rules_page(), encoding="utf-8")
    readme = root / "README.md"
    readme.write_text(readme_with_table(readme.read_text(encoding="utf-8")), encoding="utf-8")
    targets = root / "docs" / "targets.md"
    targets.write_text(targets_with_table(targets.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()))
