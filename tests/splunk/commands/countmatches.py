"""splunk-sdk-python's sample StreamingCommand `countmatches`, run on the vendored splunklib.

splunkd starts this file as `python countmatches.py` with no arguments; it counts the
matches of `pattern` over the named fields and stores the count in `fieldname`. The
recordings in tests/fixtures/scpv2-recordings were answered by the 2015 SDK on Python 2, where
`\\w` matches ASCII only, so the pattern is compiled with re.ASCII to reproduce them.
"""

import re
import sys
from pathlib import Path

# As an app's bin/ script does: splunklib comes from the vendored folder, never from
# site-packages (Splunk's Python has none). tests/splunk/commands -> repository root.
_ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(_ROOT / "build" / "vendor" / "lib"))

from splunklib.searchcommands import (  # noqa: E402
    Configuration,
    Option,
    StreamingCommand,
    dispatch,
    validators,
)


class AsciiRegularExpression(validators.RegularExpression):
    """A regular expression whose `\\w`, `\\d` and `\\s` match ASCII only (Python 2 semantics)."""

    def __call__(self, value):
        if value is None:
            return None
        try:
            return re.compile(str(value), re.ASCII)
        except re.error as error:
            raise ValueError(f"{str(error).capitalize()}: {value}") from None


@Configuration()
class CountMatchesCommand(StreamingCommand):
    """Counts the non-overlapping matches of a regular expression in a set of fields.

    | inputlookup tweets | countmatches fieldname=word_count pattern="\\w+" text
    """

    fieldname = Option(
        doc="**Syntax:** **fieldname=***<fieldname>* "
        "**Description:** Name of the field that will hold the match count",
        require=True,
        validate=validators.Fieldname(),
    )

    pattern = Option(
        doc="**Syntax:** **pattern=***<regular-expression>* "
        "**Description:** Regular expression pattern to match",
        require=True,
        validate=AsciiRegularExpression(),
    )

    def stream(self, records):
        pattern = self.pattern
        for record in records:
            count = 0
            for fieldname in self.fieldnames:
                value = record.get(fieldname, "")
                # A multivalue field arrives as a list: count over every value.
                values = value if isinstance(value, list) else [value]
                count += sum(len(pattern.findall(item)) for item in values)
            record[self.fieldname] = count
            yield record


dispatch(CountMatchesCommand, sys.argv, sys.stdin, sys.stdout, __name__)
