"""The stages, in the order they run. Stage names are stable once published (../shared/BENCH.md)."""

from bench._harness import Stage

STAGES: list[Stage] = []
