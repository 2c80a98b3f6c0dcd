"""A stand-in for the Weaviate release binary, for the embedded-Weaviate tests.

weaviate-client starts ``<binary> --host H --port P ...`` with ``GRPC_PORT`` and
``PERSISTENCE_DATA_PATH`` in the environment; this serves the loopback fake on those
ports, records how it was started next to the data, and runs until terminated.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from pathlib import Path

from pytest_httpserver import HTTPServer

from tests.weaviate_fake import FakeWeaviate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args, rest = parser.parse_known_args()
    data = Path(os.environ["PERSISTENCE_DATA_PATH"])
    data.mkdir(parents=True, exist_ok=True)
    (data / "started.json").write_text(
        json.dumps(
            {
                "port": args.port,
                "grpc_port": int(os.environ["GRPC_PORT"]),
                "args": rest,
                "modules": os.environ.get("ENABLE_MODULES"),
                "pid": os.getpid(),
            }
        )
    )
    http = HTTPServer(host=args.host, port=args.port)
    http.start()
    fake = FakeWeaviate(http).start(grpc_port=int(os.environ["GRPC_PORT"]))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    fake.stop()
    http.stop()


if __name__ == "__main__":
    main()
