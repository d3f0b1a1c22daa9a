"""The audit's wing: everything that reads a journal back and holds it to account.

``audit`` (the one streaming audit, its findings and its order-free scanner),
``verify`` (the offline bundle verifier, ``python -m ledger.audit.verify``),
``bundle`` (the export bundle on disk), ``export`` (writing one from a store),
``statement`` (a community's statement for a period, built during an audit),
``shop_statement`` (a shop's monthly statement) and ``csv_cells`` (the cells every
CSV download writes, which a spreadsheet shows but never runs).
"""
