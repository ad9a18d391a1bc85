"""What a user types and reads. Only ``accelport.__main__`` imports these; they import everything below.

- ``cli``: ``accelport`` (``rewrite`` and the shared options; exit codes) and ``check-torchcuda``.
- ``check_cli``: ``accelport check``, the pre-commit hook; ``baseline``: findings recorded to pass.
- ``config``: ``[tool.accelport]`` from ``pyproject.toml``, overridden by the command line.
- ``report``: summaries and findings as text, JSON, GitHub annotations and SARIF; ``colour`` paints
  them on a terminal; ``porting_report``: ``rewrite --report FILE``.
- ``explain``: ``accelport explain NAME``; ``docs``: regenerates the rule documentation
  (``python -m accelport.codemod.frontends.docs``).
"""
