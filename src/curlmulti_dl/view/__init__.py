"""What a download looks like to a person: the plain lines and the rich live
display that the command line and ``download_many(show_progress=True)`` (a
terminal or a Jupyter cell) share."""
