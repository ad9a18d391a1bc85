"""The engine: one file's text in, its port and its findings out (``pipeline.transform_source``).

Pure: it never reads or writes a file, never prints, never imports the code it reads. It uses the rules
through their interface (``accelport.rules.base``, ``accelport.rules.registry``, the capability table;
the few tables it still takes from single rules are listed in tests/test_layers.py), and the rules use
the modules here that say what a node is and means (``context``, ``names``, ``roles``, ``guards``,
``travel``, ``tree_walk``). The path of one file through it is drawn in docs/architecture.md.

- ``pipeline``: the steps for one file, in order; never raises.
- parsing only what can match: ``statements`` (top-level statements from Python's own parser),
  ``sparse`` (trigger-free defs and classes reach LibCST as stubs), ``suppress`` (ignore comments).
- the rule walk: ``rule_walk`` (one walk that runs every rule's hooks), ``tree_walk`` (walking a LibCST
  tree without rebuilding it), ``walk_bookkeeping`` (scopes, references and roles every walk records),
  ``context`` (what a rule sees), ``names`` (what a name refers to), ``roles`` (what a value is used
  as), ``guards`` (questions about CUDA), ``travel`` (values stored first and used later).
- after the rules: ``caveats`` (capability findings), ``torch_target`` (``--target torch``),
  ``accel_binding`` (the name ``get_accelerator`` goes by), ``imports`` (adding it, dropping
  ``torch.cuda`` imports made unused), ``extra_imports`` (the other imports a port needs).
- ``codegen``: code for what changed, positions for what is reported.
"""
