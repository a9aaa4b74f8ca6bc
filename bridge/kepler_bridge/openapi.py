"""Print the bridge's OpenAPI document (``make openapi`` writes docs/openapi.json)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any


def document() -> dict[str, Any]:
    from kepler.server.settings import ServerSettings
    from kepler_bridge.app import create_app

    with tempfile.TemporaryDirectory() as home:
        app = create_app(ServerSettings(home=Path(home)), "unused-token-for-schema")
        return app.openapi()


def main() -> None:
    print(json.dumps(document(), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
