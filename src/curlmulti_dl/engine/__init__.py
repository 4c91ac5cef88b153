"""The engine: the CurlMulti bridge on the event loop, easy handles and their write path,
every setopt, the sockets libcurl opens through us."""
