"""The `kepler` search command: a shim over lib/kepler/searchcommand, run by Splunk's Python."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from kepler.searchcommand.main import main

main()
