"""Analysis of finished records: tables, the cooperation network, the review page, labels
that become gold, and events consolidated across articles.

Reads records (ArticleExtraction lines or bulk-runner output) and writes files. May import
`healthcoop.schemas`, `healthcoop.errors`, `healthcoop.core` and `healthcoop.scoring`; never a
front door (cli, http, bulk) or the model client.
"""
