"""Speed of lstmkit's fused and reference recurrent paths next to torch.nn.LSTM and an LSTMCell loop.

    python benchmarks/recurrent.py [--rounds 7] [--steps 5] [--only TEXT]

is the same as `lstmkit bench`; the cases and contenders are in lstmkit/bench.py. The benchmarks
page's speed table (docs/benchmarks.md) comes from this script.
"""

import sys

from lstmkit.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
