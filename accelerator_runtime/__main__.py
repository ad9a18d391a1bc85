"""``python -m accelport.accelerator_runtime``: what ``get_accelerator()`` picks here, why, and the status of
every candidate (the same as ``accelport info``). Exit 2 when the requested accelerator cannot be made."""

from __future__ import annotations

import sys

from accelport.accelerator_runtime import selection


def main() -> int:
    text, ok = selection.describe_status()
    print(text)
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
