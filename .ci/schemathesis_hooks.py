"""schemathesis hooks for .ci/schemathesis (loaded through SCHEMATHESIS_HOOKS).

`POST /v1/imports` takes NDJSON (`application/x-ndjson`), which schemathesis does not serialize by
itself: a generated value is sent as one JSON line (a string as it is), so the import endpoint is
fuzzed like the rest.
"""
import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return (json.dumps(value) + "\n").encode()
