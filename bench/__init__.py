"""Benchmarks: `make bench` (all) or `make bench BENCH="retention cohorts"`.

Not tests: they measure, and compare each figure with a ceiling measured in the same run
on the same machine. Results go to bench/results/ and, by hand, to bench/README.md.
"""
