"""The codemod, in layers that import one way (tests/test_layers.py); docs/architecture.md draws the
path of one file through a run, with the module at each step.

- ``files/``: bytes on disk (discovery, reading, atomic writes, diffs, the cache).
- ``results.py``, ``settings.py``: the records every layer reads (what a file produced, what a run is
  made with).
- ``engine/``: one file's text in, its port and findings out; the rules (``accelport.rules``) sit
  beside it and use its modules, it uses them through ``rules.base`` and ``rules.registry``
  (tests/test_layers.py lists the few exceptions).
- ``run/``: many files through the engine, with verification, writes, diffs, the cache and a pool.
- ``frontends/``: the command line, the hook, reports, ``explain`` and the generated docs.

Importing this package imports nothing: the pre-commit hook pays only for what it uses.
"""
