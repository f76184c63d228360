"""Run the benchmark stages and print one JSON document; also written to bench-results.json."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from bench._harness import Result, broker, machine
from bench.stages import STAGES
from carebus.settings import DEFAULT_KAFKA_VERSION

RESULTS_FILE = Path(__file__).resolve().parents[1] / "bench-results.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--stage", choices=[stage.name for stage in STAGES], help="run only this stage")
    args = parser.parse_args(argv)
    selected = [stage for stage in STAGES if args.stage in (None, stage.name)]
    results: list[Result] = []
    with contextlib.ExitStack() as stack:
        bootstrap = stack.enter_context(broker()) if any(s.needs_broker for s in selected) else None
        for stage in selected:
            print(f"running {stage.name}", file=sys.stderr)
            results.extend(stage.run(bootstrap))
    document = {
        "machine": machine(os.environ.get("CAREBUS_KAFKA_VERSION", DEFAULT_KAFKA_VERSION)),
        "results": [result.as_json() for result in results],
    }
    text = json.dumps(document, indent=2)
    RESULTS_FILE.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
