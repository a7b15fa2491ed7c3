"""Prints wrk's latency percentile N (50, 75, 90 or 99) in milliseconds: python3 latency.py 99 < wrk.txt"""
import re
import sys

wanted = sys.argv[1] + "%"
scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
for line in sys.stdin:
    parts = line.split()
    if len(parts) == 2 and parts[0] == wanted:
        value, unit = re.match(r"([\d.]+)([a-z]+)", parts[1]).groups()
        print(f"{float(value) * scale[unit]:.2f}")
        break
else:
    print("n/a")
