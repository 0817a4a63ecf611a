#!/usr/bin/env bash
# Run 33b in one device call, from the folder holding native/ (candidate: k_fdkv's handed-over score blocks and
# k_fdq's block-staged RoPE tables), native_kv/ (the k_fdkv change alone), native_base/ (main's tree), cmake/, bench/.
cd "$(dirname "$0")/../.." || exit 1
TREES="cand:native kv:native_kv base:native_base" LIMITS="166912 101376" bash bench/cuda/run_bwd_ab.sh
