"""Files on disk: names, destinations, NAME.part and its journal, the final rename,
streams, resume, digest checks."""
