"""The property of tests/test_property.py, run for longer: ``python bench/property_long.py [EXAMPLES]``."""

from __future__ import annotations

import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, "tests")
from test_property import check_program, spliced_programs  # noqa: E402


def main() -> None:
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 2000

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(spliced_programs(), st.sampled_from(["accelport", "deepspeed"]))
    def run(program: str, runtime: str) -> None:
        check_program(program, runtime)

    run()
    print(f"{examples} generated programs: no crash, every output parses, every second pass a no-op")


if __name__ == "__main__":
    main()
