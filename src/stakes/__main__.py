"""`python -m stakes` runs the CLI."""

from stakes._cli import main

main()
