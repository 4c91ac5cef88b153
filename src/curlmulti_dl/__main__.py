"""``python -m curlmulti_dl`` runs the command-line tool."""

from .cli.launch import main

raise SystemExit(main())
