"""Turns the statements one request ran (PostgreSQL log lines with log_min_duration_statement = 0)
into a pgbench script: the same SQL, with the bound parameters written in as literals.
Reads the log on standard input, writes the script on standard output."""
import re
import sys

statements = []
current = None
for line in sys.stdin:
    execute = re.search(r"LOG:  duration: [\d.]+ ms  execute [^:]+: (.*)", line)
    if execute:
        current = [execute.group(1)]
        statements.append(current)
        continue
    detail = re.search(r"DETAIL:  [Pp]arameters: (.*)", line)
    if detail and current is not None:
        current.append(detail.group(1))
        current = None
        continue
    if current is not None and line.startswith(("\t", " ")) and "LOG:" not in line:
        current[0] += " " + line.strip()

def literal_params(spec):
    # $1 = 'a', $2 = NULL, ... (values are quoted literals with '' escaping)
    params = {}
    for match in re.finditer(r"\$(\d+) = (NULL|'(?:[^']|'')*')", spec):
        params[int(match.group(1))] = match.group(2)
    return params

for statement in statements:
    sql = statement[0]
    if sql.strip().lower() == "select 1":
        continue
    params = literal_params(statement[1]) if len(statement) > 1 else {}
    sql = re.sub(r"\$(\d+)", lambda m: params.get(int(m.group(1)), m.group(0)), sql)
    print(" ".join(sql.split()) + ";")
