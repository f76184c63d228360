"""Which topics exist: the routing stage sends to a subscriber topic only once the broker has it.

Brokers run with `auto.create.topics.enable=false` (deploy/kafka), and a producer asked to send to a missing
topic waits for its metadata up to the request timeout, stalling the stage. So routing asks this directory,
refreshed every few seconds (and before a retry, at most that often), and a missing topic sends
the copy through the retry topics instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

__all__ = ["TopicDirectory"]

logger = logging.getLogger(__name__)

LIST_TIMEOUT_S = 10.0


class TopicDirectory:
    def __init__(self, admin_config: dict[str, Any], *, min_interval_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._admin_config = {**admin_config, "log_level": 3}
        self._admin: AdminClient | None = None
        self._topics: frozenset[str] = frozenset()
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._refreshed_at = float("-inf")

    def exists(self, topic: str) -> bool:
        return topic in self._topics

    async def refresh(self) -> None:
        """List the cluster's topics, unless that was done less than `min_interval_s` ago."""
        now = self._clock()
        if now - self._refreshed_at < self._min_interval_s:
            return
        self._refreshed_at = now
        try:
            self._topics = await asyncio.get_running_loop().run_in_executor(None, self._list)
        except KafkaException as exc:
            logger.warning("listing topics failed (%s); keeping the previous list", exc.args[0].name())

    def _list(self) -> frozenset[str]:
        if self._admin is None:
            self._admin = AdminClient(self._admin_config)
        return frozenset(self._admin.list_topics(timeout=LIST_TIMEOUT_S).topics)
