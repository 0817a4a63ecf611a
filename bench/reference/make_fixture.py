#!/usr/bin/env python3
"""Builds the project's reference fixture with Hugging Face libraries.

Makes, with fixed seeds:
  * a byte-level BPE tokenizer (vocab 4096) and a small Llama trained from scratch on the shared
    text (the project's embedded default model, tiny-llama);
  * reference logits, tokenizer cases and greedy-generation cases for tiny-llama;
  * random tiny Qwen2 / Mistral / Llama-3-rope checkpoints with reference logits;
  * a PEFT LoRA adapter for tiny-llama with adapted and merged reference logits.

Usage: make_fixture.py --data DIR --out DIR [--train-seconds S | --steps N] [--device cuda|cpu]
DIR holds brown.txt and nlp.txt. Every reference is computed on the CPU in float32 with eager
attention, so the numbers do not depend on the GPU that trained the model.
"""
import argparse
import json
import math
import os
import shutil
import time

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (GenerationConfig, LlamaConfig, LlamaForCausalLM, MistralConfig,
                          MistralForCausalLM, PreTrainedTokenizerFast, AutoTokenizer,
                          Qwen2Config, Qwen2ForCausalLM)

SEED = 1234
VOCAB = 4096
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]  # ids 0..3, Llama order
SEQ = 512
VAL_FRACTION_DIVISOR = 20  # last len(lines) // 20 non-empty lines of each file are held out
REF_LEN = 96
TINY_REF_LEN = 80
LORA_REF_LEN = 32

SPLIT_RULE = ("Each file is read as UTF-8 and split on '\\n'; lines that are empty after strip() are "
              "dropped; of the remaining n lines, the last n // 20 (5%) are validation, the rest training. "
              "Files: brown.txt, nlp.txt. Each line is one document, encoded as <s> + ids + </s> "
              "(ids without special tokens) and documents are concatenated in file order (brown, then nlp).")

TOKENIZER_TEXTS = [
    "Hello, world!",
    "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced no evidence.",
    "café naïve résumé Ünïcödé façade",
    "日本語のテキスト、中文文本。",
    "emoji 😀👍🏽 and flags 🇺🇸 and a heart ❤️",
    "  leading spaces, inner    runs   and trailing  ",
    "line one\nline two\n\nline four\n",
    "tab\tseparated\tvalues\t\tdouble",
    " \t\n \n\t ",
    "Numbers: 3.14159, 1,000,000 and 2026-11-24.",
    "literal specials <s> inside </s> text <pad>",
    "",
]

GENERATE_PROMPTS = [
    "The jury said",
    "In the morning, the",
    "The results of the study",
    "She looked at him and",
]


def log(msg):
    print(msg, flush=True)


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line for line in f.read().split("\n") if line.strip()]


def split_lines(lines):
    n_val = len(lines) // VAL_FRACTION_DIVISOR
    return lines[: len(lines) - n_val], lines[len(lines) - n_val:]


# ---------------------------------------------------------------- tokenizer

def train_tokenizer(train_lines):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(train_lines, trainer=trainer, length=len(train_lines))
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    # Llama style: BOS prepended, no EOS appended.
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]),
    ])
    assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    return tok


def save_tokenizer(tok, out_dir):
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>", model_max_length=2048)
    fast.save_pretrained(out_dir)
    # A plain Llama-style config that any reader understands.
    cfg_path = os.path.join(out_dir, "tokenizer_config.json")
    with open(cfg_path, encoding="utf-8") as f:
        cfg = json.load(f)
    cfg.update({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                "add_bos_token": True, "add_eos_token": False, "model_max_length": 2048,
                "clean_up_tokenization_spaces": False, "tokenizer_class": "PreTrainedTokenizerFast"})
    with open(cfg_path, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, ensure_ascii=False)
        f.write("\n")


def encode_docs(tok, lines):
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    out = []
    for enc in tok.encode_batch(lines, add_special_tokens=False):
        out.append(bos)
        out.extend(enc.ids)
        out.append(eos)
    return torch.tensor(out, dtype=torch.int64)


# ---------------------------------------------------------------- training

def llama_config(tok):
    return LlamaConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=256, intermediate_size=688, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, head_dim=64, tie_word_embeddings=True,
        rope_theta=10000.0, max_position_embeddings=2048, rms_norm_eps=1e-5, hidden_act="silu",
        bos_token_id=tok.token_to_id("<s>"), eos_token_id=tok.token_to_id("</s>"),
        pad_token_id=tok.token_to_id("<pad>"), attention_bias=False, mlp_bias=False)


@torch.no_grad()
def evaluate(model, val_tokens, device, batch=32):
    model.eval()
    n_win = (len(val_tokens) - 1) // SEQ
    total, count = 0.0, 0
    for i in range(0, n_win, batch):
        idx = torch.arange(i, min(i + batch, n_win))
        starts = idx * SEQ
        rows = torch.stack([val_tokens[s: s + SEQ + 1] for s in starts.tolist()]).to(device)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=(device == "cuda")):
            logits = model(input_ids=rows[:, :-1]).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1),
                               reduction="sum")
        total += loss.item()
        count += rows[:, 1:].numel()
    model.train()
    return total / count


def train(model, train_tokens, val_tokens, device, args):
    gen = torch.Generator().manual_seed(SEED)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1,
                            fused=(device == "cuda"))
    warmup = 200
    total_steps = args.steps  # fixed now, or set from the measured step time below
    n_start = len(train_tokens) - SEQ - 1
    tokens_dev = train_tokens.to(device)
    offsets = torch.arange(SEQ + 1, device=device)

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        t = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))

    best = (float("inf"), -1, None)
    step, t0, t_cal = 0, time.time(), None
    model.train()
    while total_steps is None or step < total_steps:
        if step == 10:
            if device == "cuda":
                torch.cuda.synchronize()
            t_cal = time.time()
        if step == 60 and total_steps is None:
            if device == "cuda":
                torch.cuda.synchronize()
            per_step = (time.time() - t_cal) / 50
            total_steps = max(warmup + 100, int(args.train_seconds / per_step))
            log(f"calibrated: {per_step * 1000:.1f} ms/step -> {total_steps} steps for {args.train_seconds}s")
        starts = torch.randint(0, n_start, (args.batch,), generator=gen)
        rows = tokens_dev[starts.to(device)[:, None] + offsets]
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=(device == "cuda")):
            logits = model(input_ids=rows[:, :-1]).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        last = total_steps is not None and step == total_steps
        if step % args.eval_every == 0 or last:
            val = evaluate(model, val_tokens, device)
            log(f"step {step}/{total_steps} train_loss {loss.item():.4f} val_loss {val:.4f} "
                f"val_ppl {math.exp(val):.2f} lr {lr_at(step - 1):.2e} elapsed {time.time() - t0:.0f}s")
            if val < best[0]:
                best = (val, step, {k: v.detach().clone() for k, v in model.state_dict().items()})
    final_train_loss = loss.item()
    model.load_state_dict(best[2])
    return {"steps": step, "final_train_loss": final_train_loss, "best_step": best[1],
            "best_val_loss": best[0], "best_val_ppl": math.exp(best[0]),
            "train_seconds": time.time() - t0, "batch": args.batch, "seq_len": SEQ, "lr": args.lr,
            "train_tokens": len(train_tokens), "val_tokens": len(val_tokens)}


# ---------------------------------------------------------------- references

def save_json(obj, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")


@torch.no_grad()
def logits_of(model, ids):
    return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.float().contiguous()


def tokenizer_cases(model_dir, raw_tok):
    hf = AutoTokenizer.from_pretrained(model_dir)
    cases = []
    for text in TOKENIZER_TEXTS:
        ids = hf(text, add_special_tokens=False)["input_ids"]
        ids_sp = hf(text, add_special_tokens=True)["input_ids"]
        assert ids == raw_tok.encode(text, add_special_tokens=False).ids, text
        assert ids_sp == raw_tok.encode(text, add_special_tokens=True).ids, text
        assert ids_sp[0] == hf.bos_token_id
        cases.append({"text": text, "ids": ids, "ids_with_special": ids_sp,
                      "decoded": hf.decode(ids, skip_special_tokens=False)})
    return cases


def reference_inputs(tok, val_brown, val_nlp):
    bos, pad = tok.token_to_id("<s>"), tok.token_to_id("<pad>")
    rows, lengths, texts = [], [], []
    for text in (val_brown[0], val_nlp[0]):
        ids = [bos] + tok.encode(text, add_special_tokens=False).ids
        ids = ids[:REF_LEN]
        lengths.append(len(ids))
        texts.append(text)
        rows.append(ids + [pad] * (REF_LEN - len(ids)))
    return torch.tensor(rows, dtype=torch.int64), torch.tensor(lengths, dtype=torch.int64), texts


def generate_cases(model, hf_tok):
    cases = []
    for prompt in GENERATE_PROMPTS:
        ids = torch.tensor([hf_tok(prompt, add_special_tokens=True)["input_ids"]], dtype=torch.int64)
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=24,
                                 do_sample=False, num_beams=1, pad_token_id=hf_tok.pad_token_id,
                                 eos_token_id=hf_tok.eos_token_id)
        new = out[0, ids.shape[1]:].tolist()
        cases.append({"prompt": prompt, "prompt_ids": ids[0].tolist(), "new_ids": new,
                      "new_text": hf_tok.decode(new, skip_special_tokens=True)})
    return cases


def randomize(model, gen, std):
    # Seeded non-trivial values everywhere, norms and biases included, so a loader that drops or
    # misplaces any tensor gives different logits.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(std * torch.randn(p.shape, generator=gen))


def tiny_checkpoint(name, cls, cfg, out_root, seed, rewrite_config=None, control=None):
    """rewrite_config(dict) edits the saved config.json (e.g. to the legacy rope layout) before the
    reference is computed from the reloaded files; control(dict) names a config change whose logits
    must differ, proving the reference exercises that feature."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = cls(cfg).float()
    randomize(model, gen, std=0.15)
    d = os.path.join(out_root, name)
    model.save_pretrained(d, safe_serialization=True)
    gc_path = os.path.join(d, "generation_config.json")
    if os.path.exists(gc_path):
        os.remove(gc_path)
    cfg_path = os.path.join(d, "config.json")
    if rewrite_config:
        with open(cfg_path, encoding="utf-8") as f:
            cdict = json.load(f)
        save_json(rewrite_config(cdict), cfg_path)
    model = cls.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    ids = torch.randint(0, cfg.vocab_size, (2, TINY_REF_LEN), generator=gen, dtype=torch.int64)
    logits = logits_of(model, ids)
    save_file({"input_ids": ids, "logits": logits}, os.path.join(d, "reference.safetensors"))
    msg = ""
    if control:
        with open(cfg_path, encoding="utf-8") as f:
            cdict = json.load(f)
        ccfg = type(cfg).from_dict(control(cdict))
        cmodel = cls.from_pretrained(d, config=ccfg, dtype=torch.float32, attn_implementation="eager").eval()
        diff = (logits_of(cmodel, ids) - logits).abs().max().item()
        assert diff > 1e-2, f"{name}: control config gives the same logits ({diff})"
        msg = f", control max|diff| {diff:.3f}"
    log(f"{name}: params {sum(p.numel() for p in model.parameters())}, logits std {logits.std():.3f}{msg}")


def tiny_checkpoints(out_root):
    common = dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                  rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2, pad_token_id=None)
    tiny_checkpoint("tiny-qwen2", Qwen2ForCausalLM,
                    Qwen2Config(**common, tie_word_embeddings=False, rope_theta=10000.0,
                                use_sliding_window=False), out_root, SEED + 1)
    tiny_checkpoint("tiny-mistral", MistralForCausalLM,
                    MistralConfig(**common, head_dim=16, tie_word_embeddings=False, rope_theta=10000.0,
                                  sliding_window=16), out_root, SEED + 2,
                    control=lambda c: {**c, "sliding_window": None})
    rope = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 32}
    cfg = LlamaConfig(**common, head_dim=16, tie_word_embeddings=False, rope_parameters=rope)
    assert cfg.rope_parameters["rope_type"] == "llama3", cfg.rope_parameters

    def legacy_rope(c):
        # The layout of Meta's Llama-3.x config.json files: rope_theta + rope_scaling.
        c = dict(c)
        p = c.pop("rope_parameters")
        c["rope_theta"] = p["rope_theta"]
        c["rope_scaling"] = {k: v for k, v in p.items() if k != "rope_theta"}
        return c

    def default_rope(c):
        c = dict(c)
        c["rope_scaling"] = None
        c["rope_parameters"] = {"rope_type": "default", "rope_theta": c["rope_theta"]}
        return c

    tiny_checkpoint("tiny-llama3-rope", LlamaForCausalLM, cfg, out_root, SEED + 3,
                    rewrite_config=legacy_rope, control=default_rope)


def lora_fixture(model_dir, ids, out_dir):
    from peft import LoraConfig, get_peft_model
    base = LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    ids = ids[:, :LORA_REF_LEN].contiguous()
    base_logits = logits_of(base, ids)
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj"], lora_dropout=0.0,
                     bias="none", task_type="CAUSAL_LM")
    torch.manual_seed(SEED + 10)
    peft_model = get_peft_model(base, cfg)
    gen = torch.Generator().manual_seed(SEED + 11)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))
    peft_model.eval()
    adapted = logits_of(peft_model, ids)
    peft_model.save_pretrained(out_dir, safe_serialization=True)
    cfg_path = os.path.join(out_dir, "adapter_config.json")
    with open(cfg_path, encoding="utf-8") as f:
        acfg = json.load(f)
    acfg["base_model_name_or_path"] = "tiny-llama"
    acfg["target_modules"] = sorted(acfg["target_modules"])
    save_json(acfg, cfg_path)
    readme = os.path.join(out_dir, "README.md")
    if os.path.exists(readme):
        os.remove(readme)
    merged_model = peft_model.merge_and_unload().eval()
    merged = logits_of(merged_model, ids)
    d_adapt = (adapted - base_logits).abs().max().item()
    d_merge = (adapted - merged).abs().max().item()
    log(f"lora: max|adapted-base| {d_adapt:.4f}, max|adapted-merged| {d_merge:.2e}")
    assert d_adapt > 0.05, "adapter must change the outputs"
    assert d_merge < 1e-3, "merged model must match the adapted one"
    # The base model's logits on these ids are tiny-llama's reference logits[:, :LORA_REF_LEN].
    save_file({"input_ids": ids, "logits": adapted, "merged_logits": merged},
              os.path.join(out_dir, "reference.safetensors"))
    return {"max_abs_adapted_minus_base": d_adapt, "max_abs_adapted_minus_merged": d_merge}


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--train-seconds", type=float, default=180.0)
    ap.add_argument("--steps", type=int, default=None, help="fixed step count (overrides --train-seconds)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--max-lines", type=int, default=None, help="quick runs: use only this many lines a file")
    args = ap.parse_args()

    torch.manual_seed(SEED)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    t_start = time.time()
    log(f"torch {torch.__version__}, device {args.device}"
        + (f" ({torch.cuda.get_device_name(0)})" if args.device == "cuda" else ""))
    import transformers, tokenizers, peft, safetensors
    versions = {"torch": torch.__version__, "transformers": transformers.__version__,
                "tokenizers": tokenizers.__version__, "peft": peft.__version__,
                "safetensors": safetensors.__version__}
    log(f"versions {versions}")

    model_dir = os.path.join(args.out, "model", "tiny-llama")  # -> main resources
    fix_root = os.path.join(args.out, "fixture")               # -> test resources
    fix_llama = os.path.join(fix_root, "tiny-llama")
    for d in (model_dir, fix_llama):
        os.makedirs(d, exist_ok=True)

    files = {}
    for name in ("brown.txt", "nlp.txt"):
        lines = read_lines(os.path.join(args.data, name))
        if args.max_lines:
            lines = lines[: args.max_lines]
        files[name] = split_lines(lines)
        log(f"{name}: {len(lines)} non-empty lines, {len(files[name][0])} train, {len(files[name][1])} val")
    train_lines = files["brown.txt"][0] + files["nlp.txt"][0]
    val_lines = files["brown.txt"][1] + files["nlp.txt"][1]

    tok = train_tokenizer(train_lines)
    save_tokenizer(tok, model_dir)
    log(f"tokenizer: vocab {tok.get_vocab_size()} ({time.time() - t_start:.0f}s)")
    train_tokens = encode_docs(tok, train_lines)
    val_tokens = encode_docs(tok, val_lines)
    log(f"tokens: train {len(train_tokens)}, val {len(val_tokens)} ({time.time() - t_start:.0f}s)")

    cfg = llama_config(tok)
    model = LlamaForCausalLM(cfg).to(args.device)  # fp32 master weights, bf16 autocast
    log(f"tiny-llama params {sum(p.numel() for p in model.parameters())}")
    stats = train(model, train_tokens, val_tokens, args.device, args)
    log(f"training done: {json.dumps(stats)}")

    model = model.to("cpu").to(torch.bfloat16)
    model.generation_config = GenerationConfig(bos_token_id=cfg.bos_token_id, eos_token_id=cfg.eos_token_id,
                                               pad_token_id=cfg.pad_token_id, do_sample=False)
    model.save_pretrained(model_dir, safe_serialization=True)
    del model

    # References: the saved bf16 checkpoint, loaded in float32, eager attention, on the CPU.
    ref_model = LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    assert next(ref_model.parameters()).dtype == torch.float32
    val_bf16 = evaluate(ref_model, val_tokens[: 64 * SEQ + 1], "cpu")
    log(f"saved checkpoint, fp32 on cpu: val_loss {val_bf16:.4f} val_ppl {math.exp(val_bf16):.2f} "
        f"(first 64 validation windows)")
    ids, lengths, texts = reference_inputs(tok, files["brown.txt"][1], files["nlp.txt"][1])
    logits = logits_of(ref_model, ids)
    save_file({"input_ids": ids, "lengths": lengths, "logits": logits},
              os.path.join(fix_llama, "reference.safetensors"))
    hf_tok = AutoTokenizer.from_pretrained(model_dir)
    save_json(tokenizer_cases(model_dir, tok), os.path.join(fix_llama, "tokenizer_cases.json"))
    gcases = generate_cases(ref_model, hf_tok)
    save_json(gcases, os.path.join(fix_llama, "generate_cases.json"))
    for c in gcases:
        log(f"generate: {c['prompt']!r} -> {c['new_text']!r}")

    tiny_checkpoints(fix_root)
    lora_stats = lora_fixture(model_dir, ids, os.path.join(fix_root, "tiny-llama-lora"))

    summary = {"split_rule": SPLIT_RULE, "seed": SEED, "versions": versions,
               "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
               "files": {k: {"train_lines": len(v[0]), "val_lines": len(v[1])} for k, v in files.items()},
               "training": stats, "saved_checkpoint_val_ppl_first64_windows": math.exp(val_bf16),
               "reference": {"input_rows": ["first validation line of brown.txt", "first validation line of nlp.txt"],
                             "texts": texts, "lengths": lengths.tolist(),
                             "note": "rows start with <s>, cut to 96 tokens or right-padded with <pad>; "
                                     "logits computed without attention mask over all 96 positions"},
               "lora": lora_stats, "total_seconds": time.time() - t_start}
    save_json(summary, os.path.join(fix_llama, "summary.json"))
    log(f"all done in {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    main()
