"""The model edge: the one client factory (`factory.build_llm`), the OpenAI-compatible client
(`client`, the only module importing `openai` and `instructor`), the llama.cpp dialect, rate
limits, and the embedded model with its server.

May import `healthcoop.errors`, `healthcoop.settings` and `healthcoop.schemas`; never the core
pipeline, a front door, scoring or analysis. `base` holds the small types everyone else uses.
"""
