"""What tests and benchmarks share: a named fake OpenAI-compatible server for fault injection
(`fake_openai`), an in-process instant model (`instant`), and cassette replay (`cassette`).

Benchmarks import these as `tests.support.*` when run from the repository root with
`python -m bench.<name>`.
"""
