"""Nsight Compute's per-instruction source page joined with the line table of the SASS: stall samples and executed
instructions per CUDA source line of one kernel (not a test; a reading aid for the notes).

Usage: python3 ncu_lines.py SASS_CSV DISASM KERNEL_REGEX [TOP]
  SASS_CSV  ncu -i REP --page source --csv --print-source sass (one kernel)
  DISASM    nvdisasm -g -c of the cubins that hold the kernel (concatenated)
The two list the kernel's instructions in the same order; rows are matched by offset from the first instruction.
"""
import collections
import csv
import re
import sys


def disasm_lines(path, kernel):
    """offset -> (file, line) for the first function whose section name matches kernel."""
    out, cur, inside, where = {}, None, False, None
    for s in open(path, errors="replace"):
        m = re.match(r"\s*\.section\s+\.text\.(\S+)", s) or re.match(r"\s*\.text\.(\S+):", s)
        if m:
            if inside and out:
                break
            inside = re.search(kernel, m.group(1)) is not None
            continue
        if not inside:
            continue
        m = re.search(r'//## File "([^"]+)", line (\d+)', s)
        if m:
            where = (m.group(1).split("/")[-1], int(m.group(2)))
            continue
        m = re.match(r"\s*/\*([0-9a-f]{4,})\*/", s)
        if m and where:
            out[int(m.group(1), 16)] = where
    return out


def main():
    sass_csv, dis, kernel = sys.argv[1:4]
    top = int(sys.argv[4]) if len(sys.argv) > 4 else 45
    table = disasm_lines(dis, kernel)
    rows = list(csv.reader(open(sass_csv, errors="replace")))
    hi = next(i for i, r in enumerate(rows) if r and r[0] == "Address")
    head, body = rows[hi], [r for r in rows[hi + 1:] if r and r[0].startswith("0x")]
    col = {h: i for i, h in enumerate(head)}
    stalls = [h for h in head if h.startswith("stall_") and "Not Issued" not in h]
    base = int(body[0][0], 16)
    agg = collections.defaultdict(lambda: collections.Counter())
    text = {}
    for r in body:
        key = table.get(int(r[0], 16) - base, ("?", 0))
        c = agg[key]
        c["samples"] += int(r[col["Warp Stall Sampling (All Samples)"]] or 0)
        c["inst"] += int(r[col["Instructions Executed"]] or 0)
        for s in stalls:
            c[s] += int(r[col[s]] or 0)
        text.setdefault(key, r[col["Source"]].strip())
    total = sum(c["samples"] for c in agg.values()) or 1
    itotal = sum(c["inst"] for c in agg.values()) or 1
    print(f"{len(body)} instructions, {len(table)} with a line; {total} samples, {itotal} warp instructions executed")
    print("share  samples  inst%  top stalls (share of the line's samples)  file:line  first SASS")
    for key, c in sorted(agg.items(), key=lambda kv: -kv[1]["samples"])[:top]:
        st = sorted(((c[s], s[6:]) for s in stalls), reverse=True)[:3]
        sdesc = " ".join(f"{n}:{v / max(c['samples'], 1):.0%}" for v, n in st if v)
        print(f"{c['samples'] / total:5.1%} {c['samples']:8d} {c['inst'] / itotal:5.1%}  {sdesc:40s} {key[0]}:{key[1]}  {text[key][:40]}")
    ops = collections.Counter()
    for r in body:
        m = re.match(r"\s*(?:@!?U?P\w+\s+)?([A-Z0-9_]+)", r[col["Source"]])
        ops[m.group(1) if m else "?"] += int(r[col["Instructions Executed"]] or 0)
    print("executed warp instructions by opcode:")
    print("  " + ", ".join(f"{o} {v / itotal:.1%}" for o, v in ops.most_common(28)))
    # by file region: consecutive lines in bands of 10
    band = collections.Counter()
    for (f, ln), c in agg.items():
        band[(f, ln // 20 * 20)] += c["samples"]
    print("by 20-line band:")
    for (f, b), v in sorted(band.items(), key=lambda kv: -kv[1])[:25]:
        print(f"{v / total:5.1%}  {f}:{b}-{b + 19}")


if __name__ == "__main__":
    main()
