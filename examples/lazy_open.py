"""Open a store lazily, look at one tensor, and query its compressed sequence in place.

python examples/lazy_open.py STORE [TENSOR]
"""

from __future__ import annotations

import sys

import codecbench

store = codecbench.open(sys.argv[1])  # metadata only: no chunk is read yet
name = sys.argv[2] if len(sys.argv) > 2 else next(n for n in store.keys() if store.info(n)["storage"] != "plain")
info = store.info(name)
print(
    f"{len(store.keys())} tensors; {name}: {info['formulation']}/{info['codec']}, shape {info['shape']}, "
    f"{info['original_nbytes']:,} -> {info['stored_nbytes']:,} bytes"
)

opened = store.open_tensor(name)  # fetches this tensor's chunk, keeps it compressed
seq, ras = opened.sequence, opened.ras
print(f"sequence: {len(seq):,} symbols over an alphabet of {seq.alphabet_size:,}, {seq.nbytes:,} bytes in memory")

# unit 1 (the second output filter/row) lies between the 1st and 2nd delimiters
start, stop = seq.select(ras.delimiter, 1) + 1, seq.select(ras.delimiter, 2)
symbols = seq.extract(start, stop)
unit = opened.formulation.decode_units(ras, symbols, 1, 2)
dense = store.tensor(name)  # the whole tensor decoded
print("unit 1 decoded from", stop - start, "symbols; equals the dense slice:", unit.tobytes() == dense[1:2].tobytes())
