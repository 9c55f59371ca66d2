"""The pure core: text cleaning (`text`), grounding into character offsets (`grounding`),
normalization of names, codes and dates (`normalise`), prompt templates (`prompting`), and
many patterns run over one text only where their matches can begin (`scan`).

No network, no settings object, no model. May import `healthcoop.errors` and
`healthcoop.schemas`, nothing else of healthcoop.
"""
