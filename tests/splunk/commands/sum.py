"""splunk-sdk-python's sample ReportingCommand `sum`, run on the vendored splunklib.

`sum total=<field> <field-list>` adds the named fields: the map phase per chunk, the
reduce phase over the map outputs. Replays sum.reduce.input.gz (the reduce phase).
"""

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(_ROOT / "build" / "vendor" / "lib"))

from splunklib.searchcommands import (  # noqa: E402
    Configuration,
    Option,
    ReportingCommand,
    dispatch,
    validators,
)


@Configuration(requires_preop=True)
class SumCommand(ReportingCommand):
    """Computes the sum of a set of fields into the field named by `total`."""

    total = Option(
        doc="**Syntax:** **total=***<fieldname>* "
        "**Description:** Name of the field that will hold the computed sum",
        require=True,
        validate=validators.Fieldname(),
    )

    @Configuration()
    def map(self, records):
        total = 0.0
        for record in records:
            for fieldname in self.fieldnames:
                total += float(record[fieldname])
        yield {self.total: total}

    def reduce(self, records):
        total = 0.0
        for record in records:
            total += float(record[self.total])
        yield {self.total: total}


dispatch(SumCommand, sys.argv, sys.stdin, sys.stdout, __name__)
