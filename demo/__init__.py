"""Demo day: a simulated service day against the running platform (`make run`), through the
five services' public REST APIs only, finishing with the day's quality figures.

Run it with `make demo` (or `python -m demo --help`). The day's plan (customers, products,
faults, which order goes late, not home, is taken back...) is a pure function of `--seed` and
`--orders`; see :mod:`demo.plan`. :mod:`demo.day` drives the plan, :mod:`demo.api` is the thin
HTTP layer and :mod:`demo.report` prints the figures.
"""
