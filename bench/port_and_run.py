"""Port real training scripts with ``accelport rewrite`` alone, then run them on the CPU.

Usage::

    python bench/port_and_run.py [--corpus /work/scratch/realcode] [--only NAME,...] [--keep DIR]
                                 [--markdown out.md]

Each case copies a folder of the corpus (CORPUS.md there says where it comes from) to a scratch
folder, runs ``accelport rewrite`` on it (the console script next to this Python), records its exit
code and findings, and ``accelport check --select ALL``'s, then runs the ported script(s) on the CPU:
one process, and ``torchrun --standalone --nproc-per-node 2`` where the script is distributed.

Nothing in the ported code is edited. Data files a script reads (nanoGPT's ``train.bin``,
``meta.pkl``) are generated with random characters; the DDP tutorial's data set is already synthetic.
(pytorch/examples' mnist and dcgan were dropped: they need torchvision, and no torchvision build
matching the pinned CPU torch is installable here; nanoGPT's sample.py needs tiktoken at import.) Configuration the
script takes on its command line (nanoGPT's ``--compile=False``, tiny sizes) is a user's choice, not
a patch.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

BIN = Path(sys.executable).parent
ACCELPORT = str(BIN / "accelport")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
PY = [sys.executable]


@dataclass
class Case:
    name: str
    folder: str  # relative to the corpus
    runs: List[Tuple[str, List[str]]]  # (label, argv relative to the case folder)
    prepare: Optional[Callable[[Path], str]] = None  # returns a description of what it did
    notes: str = ""


def _nanogpt_data(root: Path) -> str:
    """A character-level data set the way nanoGPT's ``prepare.py`` writes one, with random text."""
    import pickle

    import numpy as np

    data = root / "data" / "synthetic"
    data.mkdir(parents=True, exist_ok=True)
    chars = sorted(set("abcdefghijklmnopqrstuvwxyz .,\n"))
    with open(data / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": {c: i for i, c in enumerate(chars)}}, f)
    rng = np.random.default_rng(0)
    for split, size in (("train", 20000), ("val", 4000)):
        rng.integers(0, len(chars), size, dtype=np.uint16).tofile(data / f"{split}.bin")
    return "generated data/synthetic/{train,val}.bin and meta.pkl: random characters (no code patched)"


NANOGPT_ARGS = [
    "--dataset=synthetic", "--out_dir=out-synthetic", "--eval_interval=10", "--eval_iters=2", "--log_interval=5",
    "--max_iters=20", "--batch_size=4", "--block_size=32", "--n_layer=2", "--n_head=2", "--n_embd=32",
    "--compile=False", "--gradient_accumulation_steps=2", "--always_save_checkpoint=False",
]  # fmt: skip

CASES = [
    Case("ddp-tutorial single_gpu", "pytorch-examples/distributed/ddp-tutorial-series",
         [("python", PY + ["single_gpu.py", "2", "1"])]),
    Case("ddp-tutorial multigpu (mp.spawn)", "pytorch-examples/distributed/ddp-tutorial-series",
         [("python", PY + ["multigpu.py", "2", "1"])]),
    Case("ddp-tutorial multigpu_torchrun", "pytorch-examples/distributed/ddp-tutorial-series",
         [("torchrun x1", [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1",
                           "multigpu_torchrun.py", "2", "1"]),
          ("torchrun x2", TORCHRUN + ["multigpu_torchrun.py", "2", "1"]),
          ("torchrun x2, resume from snapshot", TORCHRUN + ["multigpu_torchrun.py", "3", "1"])],
         notes="the third run resumes from the snapshot the second one saved"),
    Case("ddp-tutorial multinode (torchrun)", "pytorch-examples/distributed/ddp-tutorial-series",
         [("torchrun x2", TORCHRUN + ["multinode.py", "2", "1"])]),
    Case("nanoGPT train.py", "nanogpt",
         [("python", PY + ["train.py", *NANOGPT_ARGS]), ("torchrun x2", TORCHRUN + ["train.py", *NANOGPT_ARGS])],
         prepare=_nanogpt_data),
]  # fmt: skip


@dataclass
class Result:
    case: str
    rewrite_rc: int
    rewrite_findings: List[str]
    check_rc: int
    check_findings: int
    prepared: str = ""
    runs: List[Dict[str, str]] = field(default_factory=list)


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_WORLD_SIZE"):
        env.pop(name, None)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _last_error(output: str) -> str:
    """The exception line of a traceback (the first rank's), else the last non-empty line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^(\[rank\d+\]: )?[A-Za-z_.]*(Error|Exception)\b:", line)]
    errors = [line for line in errors if not re.search(r"ChildFailedError|ProcessRaisedException", line)] or errors
    if errors:
        return errors[0][:240]
    return lines[-1][:240] if lines else ""


def run_case(case: Case, corpus: Path, work: Path, timeout: int) -> Result:
    src = corpus / case.folder
    dest = work / re.sub(r"\W+", "-", case.name).strip("-")
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest)
    rewrite = subprocess.run([ACCELPORT, "rewrite", "."], cwd=dest, capture_output=True, text=True, env=_env())
    findings = [line for line in rewrite.stderr.splitlines() if re.match(r"^\S+\.py:\d+:\d+: ", line)]
    check = subprocess.run([ACCELPORT, "check", "--select", "ALL", "."], cwd=dest, capture_output=True, text=True, env=_env())
    check_findings = [line for line in (check.stdout + check.stderr).splitlines() if re.match(r"^\S+\.py:\d+:\d+: ", line)]
    result = Result(case.name, rewrite.returncode, findings, check.returncode, len(check_findings))
    if case.prepare is not None:
        result.prepared = case.prepare(dest)
    for label, argv in case.runs:
        if "resume" not in label:  # every other run starts without a snapshot left by an earlier one
            (dest / "snapshot.pt").unlink(missing_ok=True)
        try:
            proc = subprocess.run(argv, cwd=dest, capture_output=True, text=True, env=_env(), timeout=timeout)
            rc, output = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            rc, output = -1, f"timed out after {timeout}s\n" + (exc.stdout or b"").decode(errors="replace")[-2000:]
        (dest / f"port-and-run-{len(result.runs) + 1}.log").write_text(output)  # the full output, kept with --keep
        result.runs.append({"label": label, "command": " ".join(a if a != sys.executable else "python" for a in argv),
                            "rc": str(rc), "status": "runs" if rc == 0 else "crashes", "error": "" if rc == 0 else _last_error(output),
                            "tail": output[-3000:]})  # fmt: skip
        print(f"{case.name} / {label}: rc={rc} {result.runs[-1]['error']}", file=sys.stderr, flush=True)
    return result


def markdown(results: Sequence[Result]) -> str:
    out = ["| script | rewrite exit / findings | check --select ALL exit / findings | run | result | first error |",
           "|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        for run in r.runs:
            error = run["error"].replace("|", "\\|")
            out.append(f"| {r.case} | {r.rewrite_rc} / {len(r.rewrite_findings)} | {r.check_rc} / {r.check_findings} | "
                       f"{run['label']} | {run['status']} | {error} |")  # fmt: skip
    out.append("")
    for r in results:
        if r.prepared:
            out.append(f"- {r.case}: {r.prepared}")
        for finding in r.rewrite_findings:
            out.append(f"- {r.case}: rewrite reported `{finding}`")
    return "\n".join(out) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=Path("/work/scratch/realcode"))
    parser.add_argument("--only", default="", help="comma-separated substrings of case names")
    parser.add_argument("--keep", type=Path, help="port into this folder and keep it")
    parser.add_argument("--timeout", type=int, default=300)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="port-and-run-"))
    work.mkdir(parents=True, exist_ok=True)
    wanted = [w for w in args.only.split(",") if w]
    cases = [c for c in CASES if not wanted or any(w in c.name for w in wanted)]
    results = [run_case(case, args.corpus, work, args.timeout) for case in cases]
    text = markdown(results)
    if args.markdown:
        args.markdown.write_text(text)
    sys.stdout.write(text)
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
