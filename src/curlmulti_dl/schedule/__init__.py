"""Who gets a connection: slot limiters with owners, the scheduler, how files share a
host's free slots, what a host's set-ups cost."""
