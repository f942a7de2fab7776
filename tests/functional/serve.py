"""Run the real ASGI app under uvicorn for browser tests, with the tests' outbound-network guard.

    python -m tests.functional.serve PORT

The server is a separate process (so streaming is real, as in production), and like every test it
may only talk to loopback: a connection elsewhere is refused and logged as "network guard".
"""

from __future__ import annotations

import socket
import sys

import uvicorn

from tests import conftest


def main() -> None:
    port = int(sys.argv[1])
    socket.socket.connect = conftest._guarded(conftest._real_connect)  # type: ignore[method-assign]
    socket.socket.connect_ex = conftest._guarded(conftest._real_connect_ex)  # type: ignore[method-assign]
    uvicorn.run("portal.asgi:application", host="127.0.0.1", port=port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
