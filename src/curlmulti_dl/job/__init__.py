"""One file's download: its decisions as a state machine that returns actions
(``machine``), and the driver that carries them out (``driver``)."""
