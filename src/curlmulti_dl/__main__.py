"""``python -m curlmulti_dl`` runs the command-line tool."""

from ._launch import main

raise SystemExit(main())
