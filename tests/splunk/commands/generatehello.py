"""splunk-sdk-python's sample GeneratingCommand `generatehello`, run on the vendored splunklib.

`generatehello count=<n>` yields n events. splunklib answers an execute chunk with at most
`maxresultrows` of them and `finished: false` while more remain; splunkd asks again with
an empty chunk until it says `finished: true` (the harness's `execute_all` plays that).
"""

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(_ROOT / "build" / "vendor" / "lib"))

from splunklib.searchcommands import (  # noqa: E402
    Configuration,
    GeneratingCommand,
    Option,
    dispatch,
    validators,
)


@Configuration()
class GenerateHelloCommand(GeneratingCommand):
    """Generates `count` events, numbered from 1.

    | generatehello count=10
    """

    count = Option(require=True, validate=validators.Integer(0))

    def generate(self):
        for i in range(1, self.count + 1):
            yield {"_serial": i, "_time": 1700000000 + i, "_raw": f"{i}. Hello World!"}


dispatch(GenerateHelloCommand, sys.argv, sys.stdin, sys.stdout, __name__)
