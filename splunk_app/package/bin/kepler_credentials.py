"""Kepler's `kepler/credentials` REST handler (restmap.conf [script:kepler_credentials]):
a shim over lib/kepler/searchcommand/credentials, run by splunkd's persistent handler
process in Splunk's Python. It answers the setup with the bridge token of the caller's
Kepler level, read with the system session, so users need no list_storage_passwords."""

import json
import os
import sys
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from kepler.searchcommand.credentials import answer

try:
    from splunk.persistconn.application import PersistentServerConnectionApplication
except ImportError:  # outside splunkd (the tests): the same interface, on object
    PersistentServerConnectionApplication = object


class Credentials(PersistentServerConnectionApplication):
    def __init__(self, command_line=None, command_arg=None):
        super().__init__()

    def handle(self, in_string):
        try:
            request = json.loads(in_string)
        except ValueError:
            return {"status": 400, "payload": {"error": {"message": "the request is not JSON"}}}
        try:
            return answer(request)
        except Exception:  # never a traceback to the caller: splunkd.log has it
            traceback.print_exc(file=sys.stderr)
            message = "internal error in kepler/credentials; splunkd.log has the details"
            return {"status": 500, "payload": {"error": {"code": "internal", "message": message}}}

    def handleStream(self, handle, in_string):
        raise NotImplementedError("kepler/credentials does not stream")

    def done(self):
        pass
