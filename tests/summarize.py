#!/usr/bin/env python3
"""Prints 'PASSED FAILED' counted from a meson testlog.json."""
import json, sys
p = f = 0
with open(sys.argv[1]) as fh:
    for line in fh:
        r = json.loads(line).get("result")
        if r == "OK" or r == "EXPECTEDFAIL" or r == "SKIP":
            p += r != "SKIP"
        else:
            f += 1
print(p, f)
