"""``python -m tidings.cli``: the ``tidings`` command."""

from tidings.cli.root import main

main()
