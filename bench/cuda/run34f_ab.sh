#!/usr/bin/env bash
# Forward run 34f (k_fout's key side from k_fstate's key pack), A/B in one device call: run30f_ab.sh with
# native_base/ (the tree before the change) as "base", the candidate (native/), and its staging-only timing
# probe "p1" (-DLIGER_FOUT_PROBE=1, timed once). check.py on the candidate.
# Usage (from the folder holding native/, native_base/, cmake/, bench/): bench/cuda/run34f_ab.sh
set -uo pipefail
mkdir -p base && ln -sfn ../native_base base/native
VARIANTS="p1:-DLIGER_FOUT_PROBE=1" CHECK="" ONCE="p1" bash bench/cuda/run30f_ab.sh
