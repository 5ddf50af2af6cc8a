"""``python -m autolik``: the same command line as the ``autolik`` console script."""
from autolik.cli import main

if __name__ == "__main__":
    main()
