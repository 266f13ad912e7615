"""`python -m fine_tune.compare <sweep folder>`: the same as `fine-tune-compare`."""

from fine_tune.compare.cli import main

if __name__ == "__main__":
    main()
