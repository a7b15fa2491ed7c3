"""Turns the statements one request ran (PostgreSQL log lines with log_min_duration_statement = 0)
into a pgbench script: the same SQL with the same bound parameters. Reads the log on standard
input, writes the script on standard output and the parameter values to the file named by the
first argument."""
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

def parse_params(spec):
    # $1 = 'a', $2 = NULL, ... (values are quoted literals with '' escaping)
    params = {}
    for match in re.finditer(r"\$(\d+) = (NULL|'(?:[^']|'')*')", spec):
        params[int(match.group(1))] = match.group(2)
    return params

# Bound parameters stay bound parameters: pgbench -M prepared sends `:pN` variables as parameters,
# so PostgreSQL parses, plans (force_custom_plan, as the service does) and executes each statement
# exactly as it does for the service. (Literals in their place would let a cached plan be reused,
# which the service never gets.) The values go to the file named by the first argument, one
# `name=value` per line, for pgbench -D.
definitions = []
for statement in statements:
    sql = statement[0]
    if sql.strip().lower() == "select 1":
        continue
    params = parse_params(statement[1]) if len(statement) > 1 else {}

    def substitute(m):
        value = params.get(int(m.group(1)))
        if value is None:
            return m.group(0)
        if value == "NULL":
            return "NULL"
        name = f"p{len(definitions) + 1}"
        unquoted = value[1:-1].replace("''", "'")
        definitions.append(f"{name}={unquoted}")
        return f":{name}"

    sql = re.sub(r"\$(\d+)", substitute, sql)
    print(" ".join(sql.split()) + ";")

with open(sys.argv[1], "w") as out:
    for definition in definitions:
        out.write(definition + "\n")
