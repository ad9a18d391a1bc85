"""The properties of tests/test_property.py and tests/test_adversarial.py, run for longer:
``python bench/property_long.py [EXAMPLES]``.

1. transform: generated programs with CUDA snippets spliced in never crash, the output parses, a
   second pass is a no-op (tests/test_property.py);
2. the whole per-file path (``runner.process`` in write mode, limits, byte preservation, the atomic
   write): never an internal error, a refused file byte-identical, a written one parses and keeps
   every line outside the rewritten statements (tests/test_adversarial.py).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, "tests")
import hypothesmith  # noqa: E402
from test_adversarial import check_file  # noqa: E402
from test_property import SNIPPETS, check_program, spliced_programs  # noqa: E402


def main() -> None:
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 2000

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(spliced_programs(), st.sampled_from(["accelport", "deepspeed"]))
    def transform(program: str, runtime: str) -> None:
        check_program(program, runtime)

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(hypothesmith.from_grammar(), st.sampled_from(["", "\x0c", *SNIPPETS]))
    def through_runner(program: str, snippet: str) -> None:
        with tempfile.TemporaryDirectory() as folder:
            check_file(snippet + program, Path(folder))

    transform()
    print(f"{examples} generated programs: no crash, every output parses, every second pass a no-op")
    through_runner()
    print(f"{examples} generated files through the runner: no internal error, nothing lost")


if __name__ == "__main__":
    main()
