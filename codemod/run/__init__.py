"""A run: every file given through the engine, serially or in a process pool. Never prints.

- ``runner``: per file, read, the trigger prefilter, the engine, a second pass where needed, verify,
  then the diff or the atomic write; the outcomes in discovery order, from the cache where it can.
- ``notebook``: ``.ipynb`` files, their code cells through the engine, every other byte kept.
- ``relocate``: findings moved onto the text as written.
- ``workers``: pool workers that die with their parent; ``progress``: the bar on a terminal.
"""
