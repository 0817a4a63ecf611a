"""Cuts the demo's bundled text from the shared corpora with the fixture's train/validation split.

Lines that are blank after strip() are dropped; the last n // 20 lines of each file are held out (the
tiny-llama fixture's validation set). The demo fine-tunes on training lines and reports perplexity on
held-out lines only.

    python3 bench/reference/make_demo_text.py DATA_DIR java/src/main/resources/dev/liger/data
"""
import os
import sys


def split(path):
    with open(path, encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    n = len(lines) // 20
    return lines[: len(lines) - n], lines[len(lines) - n:]


def main(data, out):
    nlp_train, nlp_val = split(os.path.join(data, "nlp.txt"))
    brown_train, brown_val = split(os.path.join(data, "brown.txt"))
    # Training lines spread over the whole training split (every k-th line), so the short demo run
    # sees the same mix of sources the held-out text has.
    train = nlp_train[:: len(nlp_train) // 3000][:3000] + brown_train[:: len(brown_train) // 300][:300]
    held = nlp_val[:500] + brown_val[:120]
    os.makedirs(out, exist_ok=True)
    for name, rows in (("demo-train.txt", train), ("demo-heldout.txt", held)):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            f.write("\n".join(rows) + "\n")
        print(name, len(rows), "lines")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
