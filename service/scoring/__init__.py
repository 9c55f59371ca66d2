"""Scoring runs: `evaluate` measures records against gold records written under the
annotation guide; `diff` reports what changed between two runs over one archive.

Pure functions of their inputs. May import `healthcoop.core`, `healthcoop.errors`,
`healthcoop.files` and `healthcoop.schemas`; never the model client or a front door.
"""
