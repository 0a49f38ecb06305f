"""Endpoint templates and the closing table of bench/same_sql.sh.

    same_sql_endpoints.py OUT_DIR SHARED_BASELINE_JSON   # writes same-sql{,-floor,-baseline}.json in OUT_DIR
    same_sql_endpoints.py --ratios RESULT_JSON           # prints project / same-sql per endpoint

The project and the same-SQL app take the requests bench/booking_setup.py wrote (the read by id
and the booking of pass `main`, the list of pass `more`), renamed `by_id`, `list`, `book`; the
same-SQL app's booking resets its own copy of the database (`FLOOR_DATABASE`) before each run.
The baseline takes its own shapes under those names: one row by id, its list (up to 50 free
slots) and its one-`INSERT` booking.
"""

import json
import sys
from pathlib import Path

from booking_setup import DATABASE

FLOOR_DATABASE = "queueless_floor"


def by_name(path: Path) -> dict[str, dict[str, str]]:
    return {endpoint["name"]: endpoint for endpoint in json.loads(path.read_text())}


def write_endpoints(made: Path, shared_baseline: Path) -> None:
    main, more, baseline = by_name(made / "main.json"), by_name(made / "more.json"), by_name(shared_baseline)
    project = [main["db"] | {"name": "by_id"}, more["db"] | {"name": "list"}, main["book"]]
    floor_reset = main["book"]["before"].replace(f"-d {DATABASE} ", f"-d {FLOOR_DATABASE} ")
    if floor_reset == main["book"]["before"]:
        raise SystemExit(f"the booking's reset does not name -d {DATABASE}: {floor_reset}")
    floor = [*project[:2], main["book"] | {"before": floor_reset}]
    paired = [baseline["db"] | {"name": "by_id"}, baseline["slots"] | {"name": "list"}, baseline["book"]]
    (made / "same-sql.json").write_text(json.dumps(project, indent=1))
    (made / "same-sql-floor.json").write_text(json.dumps(floor, indent=1))
    (made / "same-sql-baseline.json").write_text(json.dumps(paired, indent=1))


def print_ratios(result: Path) -> None:
    rps = {(row["endpoint"], row["target"]): row["rps"] for row in json.loads(result.read_text())["rows"]}
    print("\n| endpoint | project / same-sql (req/s) |\n|---|---:|")
    for endpoint in dict.fromkeys(endpoint for endpoint, _ in rps):
        print(f"| {endpoint} | {rps[endpoint, 'project'] / rps[endpoint, 'same-sql']:.2f} |")


if __name__ == "__main__":
    if sys.argv[1] == "--ratios":
        print_ratios(Path(sys.argv[2]))
    else:
        write_endpoints(Path(sys.argv[1]), Path(sys.argv[2]))
