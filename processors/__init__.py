"""processors: the middle of the bus. Canonical events in; normalized, identity-resolved, owned, de-duplicated
events out on `normalized.<domain>.v1` (keyed by enterprise patient id), and copies routed to subscriber topics.

One faust app (`agents.build_processor_app`), exactly-once through `app`'s fixed faust transport; every step is
a pure function (`normalize`, `dedupe`, `ownership`, `identity`, `routing`, `retry`) that the stages in `steps`
compose and the agents call. Operator data lives in `config/` and is reloaded while the workers run
(`config_files`). Topology and guarantees: `topology`, `agents`.
"""
