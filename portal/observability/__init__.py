"""Observability: Prometheus metrics, structured logs and a request id carried through web and Celery.

``PROMETHEUS_MULTIPROC_DIR`` switches prometheus-client to its multi-process mode (one file per process,
summed at scrape time). The client decides this when it is first imported, from the variable's mere
presence, so an empty value (``PROMETHEUS_MULTIPROC_DIR=`` in an env file) is removed here first:
empty means one process, as for every other setting. A folder that does not exist yet is created.
"""

from __future__ import annotations

import os

_multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _multiproc_dir == "":
    del os.environ["PROMETHEUS_MULTIPROC_DIR"]
elif _multiproc_dir:
    os.makedirs(_multiproc_dir, exist_ok=True)  # the client writes there from the first metric on
