"""The ``curlmulti-dl`` command. Kept light: ``launch`` loads nothing of the engine before
the first connection is on its way."""
