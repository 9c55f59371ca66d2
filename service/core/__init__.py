"""The pure core: text cleaning (`text`), grounding into character offsets (`grounding`),
normalization of names, codes and dates (`normalise`), and prompt templates (`prompting`).

No network, no settings object, no model. May import `healthcoop.errors` and
`healthcoop.schemas`, nothing else of healthcoop.
"""
