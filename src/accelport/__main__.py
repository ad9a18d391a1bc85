"""``python -m accelport`` and the ``accelport`` console script."""

from __future__ import annotations


def main() -> None:
    from accelport.codemod.frontends.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
