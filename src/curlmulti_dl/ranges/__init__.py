"""Byte ranges: planning, the ledger of which bytes are where, the rebalancing choices.
Pure: no I/O (property-tested)."""
