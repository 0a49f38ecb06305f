"""Endpoint templates and the closing table of bench/same_sql.sh.

    same_sql_endpoints.py OUT_DIR                 # writes same-sql{,-floor}.json in OUT_DIR
    same_sql_endpoints.py --ratios RESULT_JSON    # prints project / same-sql per row

The project and the same-SQL app take the requests bench/booking_setup.py wrote (`by_id`, `list`,
`book` of OUT_DIR/booking.json); the same-SQL app's booking resets its own copy of the database
(`FLOOR_DATABASE`) before each run. Each names the baseline's request it is measured beside
(`compare`): one row by id, its list (up to 50 free slots) and its one-`INSERT` booking.
"""

import json
import sys
from pathlib import Path

from booking_setup import DATABASE

FLOOR_DATABASE = "queueless_floor"


def by_name(path: Path) -> dict[str, dict[str, str]]:
    return {endpoint["name"]: endpoint for endpoint in json.loads(path.read_text())}


def write_endpoints(made: Path) -> None:
    booking = by_name(made / "booking.json")
    project = [booking["by_id"], booking["list"], booking["book"]]
    floor_reset = booking["book"]["before"].replace(f"-d {DATABASE} ", f"-d {FLOOR_DATABASE} ")
    if floor_reset == booking["book"]["before"]:
        raise SystemExit(f"the booking's reset does not name -d {DATABASE}: {floor_reset}")
    floor = [*project[:2], booking["book"] | {"before": floor_reset}]
    (made / "same-sql.json").write_text(json.dumps(project, indent=1))
    (made / "same-sql-floor.json").write_text(json.dumps(floor, indent=1))


def print_ratios(result: Path) -> None:
    rps = {(row["row"], row["target"]): row["rps"] for row in json.loads(result.read_text())["rows"]}
    print("\n| row | project / same-sql (req/s) |\n|---|---:|")
    for name in dict.fromkeys(name for name, _ in rps):
        print(f"| {name} | {rps[name, 'project'] / rps[name, 'same-sql']:.2f} |")


if __name__ == "__main__":
    if sys.argv[1] == "--ratios":
        print_ratios(Path(sys.argv[2]))
    else:
        write_endpoints(Path(sys.argv[1]))
