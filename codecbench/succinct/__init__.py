"""Succinct building blocks in numpy + numba, named after their sdsl-lite counterparts."""
