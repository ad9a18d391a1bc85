"""Bytes on disk: which files a run reads, reading and writing them without losing a byte, diffs and
the cache. Knows nothing about porting and imports nothing else of accelport's codemod.

- ``discovery``: the files below the paths given, minus what git ignores and the excludes.
- ``read``: bytes to text and back (encoding cookie, BOM, line endings), with the size limits.
- ``write``: atomic writes that never lose anybody's bytes.
- ``diff``: unified diffs ``git apply`` accepts, made from the bytes.
- ``cache``: per-file outcomes keyed by the file's hash, the settings and accelport's own code.
"""
