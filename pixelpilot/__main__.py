"""``python -m pixelpilot``: the same command line as the ``pixelpilot`` script."""

from pixelpilot.cli import main

if __name__ == "__main__":
    main()
