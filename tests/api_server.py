"""A live uvicorn on loopback for the API tests and the load benchmark: ``LiveServer(service).start()``."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from api.app import create_app
from tests.ollama_stub import free_port


class LiveServer:
    """The real app on uvicorn in a thread, on a free loopback port."""

    def __init__(self, service: Any, port: int | None = None) -> None:
        self.app = create_app(service)
        self.port = port or free_port()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    def start(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=15)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
