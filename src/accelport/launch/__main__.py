"""``python -m accelport.launch``: the worker shim (``--worker``, started by torchrun or an MPI
launcher on every rank) or, without it, ``accelport launch`` itself."""

from __future__ import annotations

import sys

if sys.argv[1:2] == ["--worker"]:
    from accelport.launch.worker import worker

    worker(sys.argv[2:])
else:
    from accelport.launch import main

    sys.exit(main())
