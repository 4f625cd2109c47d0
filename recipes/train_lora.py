"""Train a LoRA (or prefix-tuning) adapter for commit messages on a GPU cluster, from a `changeling export --task cmg` folder.

The export's rows are token ids in the base model's own input format, exactly as `changeling finetune`
trains on them, so this script only pads, batches and trains: Hugging Face transformers + PEFT under
accelerate, on any number of GPUs or nodes. The adapter it writes (PEFT's format, safetensors) goes back to
the repository with `changeling adopt --task cmg --adapter OUT --model MODEL`, which checks it on the
repository's validation split and adopts it when it beats the untuned model.

  changeling export --task cmg --model MODEL --repo REPO... --out DATA
  accelerate launch [--num_processes N --num_machines M ...] recipes/train_lora.py --model MODEL --data DATA --out OUT

Defaults are the study's and Changeling's CMG settings: LoRA r 8, alpha 32, no dropout, on the attention's
query and value projections (PEFT's defaults for T5 and BART), AdamW at 5e-4 with a linear schedule, batch
16 per process, 64 label tokens at most, 3 epochs (or --max-steps).

A code LLM (Qwen2.5-Coder, the Llama family: an export made with --model that model) trains as `changeling
finetune` tunes it: the export's chat rows (input_ids and labels, -100 except on the answer), LoRA r 16, alpha 32
on all seven projections of the top 8 layers, AdamW at 2e-4, batch 4 per process.

--method prefix trains PEFT's prefix-tuning instead (T5/CodeT5 models; --prefix-tokens, default 20), which
Changeling runs as PEFT does: prefixes on the decoder's self-attention. Bottleneck adapters are not a PEFT
method (PEFT has no Houlsby adapter), so they are trained with `changeling finetune --method adapter`.
"""
import argparse
import json
import math
import os

import torch
from accelerate import Accelerator
from peft import LoraConfig, PrefixTuningConfig, TaskType, get_peft_model
from torch.utils.data import DataLoader
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, get_linear_schedule_with_warmup

CAUSAL = ("qwen2", "llama")
PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def read_rows(data, split):
    """The export's rows of one split: split.jsonl, or split.parquet (changeling export --format parquet)."""
    path = os.path.join(data, f"{split}.parquet")
    if os.path.exists(path):
        import pyarrow.parquet as pq
        return pq.read_table(path).to_pylist()
    with open(os.path.join(data, f"{split}.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def collate_causal(rows, pad_id):
    """A causal LM's chat rows: ids and labels as long as each other, padded on the right (labels with -100)."""
    longest = max(len(r["input_ids"]) for r in rows)
    pad = lambda x, v: x + [v] * (longest - len(x))
    return {
        "input_ids": torch.tensor([pad(r["input_ids"], pad_id) for r in rows]),
        "attention_mask": torch.tensor([pad([1] * len(r["input_ids"]), 0) for r in rows]),
        "labels": torch.tensor([pad(r["labels"], -100) for r in rows]),
    }


def collate(rows, pad_id, max_target):
    """Pads each batch to its longest member (inputs with the pad id, labels with -100)."""
    longest = max(len(r["input_ids"]) for r in rows)
    batch = {
        "input_ids": torch.tensor([r["input_ids"] + [pad_id] * (longest - len(r["input_ids"])) for r in rows]),
        "attention_mask": torch.tensor([[1] * len(r["input_ids"]) + [0] * (longest - len(r["input_ids"])) for r in rows]),
    }
    labels = [r["labels"] if "decoder_input_ids" in r else r["labels"][:max_target] for r in rows]
    n = max(len(x) for x in labels)
    batch["labels"] = torch.tensor([x + [-100] * (n - len(x)) for x in labels])
    if all("decoder_input_ids" in r for r in rows):
        d = [r["decoder_input_ids"] for r in rows]
        m = max(len(x) for x in d)
        batch["decoder_input_ids"] = torch.tensor([x + [pad_id] * (m - len(x)) for x in d])
        batch["decoder_attention_mask"] = torch.tensor([[1] * len(x) + [0] * (m - len(x)) for x in d])
    return batch


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="the base model folder (the one the export was made with)")
    p.add_argument("--data", required=True, help="the export folder (train.jsonl)")
    p.add_argument("--out", required=True, help="where the PEFT adapter is written")
    p.add_argument("--epochs", type=float, default=3)
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many optimizer steps (0: --epochs)")
    p.add_argument("--batch", type=int, default=None, help="per process (16; a code LLM 4)")
    p.add_argument("--lr", type=float, default=None, help="5e-4; a code LLM 2e-4")
    p.add_argument("--r", type=int, default=None, help="8; a code LLM 16")
    p.add_argument("--alpha", type=int, default=32)
    p.add_argument("--top-layers", type=int, default=8, help="a code LLM: LoRA on the top N layers")
    p.add_argument("--method", choices=["lora", "prefix"], default="lora")
    p.add_argument("--prefix-tokens", type=int, default=20, help="virtual tokens of --method prefix")
    p.add_argument("--max-target", type=int, default=64)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()

    acc = Accelerator()
    torch.manual_seed(a.seed)
    rows = read_rows(a.data, "train")
    if not rows:
        raise SystemExit(f"{a.data}/train.jsonl has no rows")
    config = AutoConfig.from_pretrained(a.model)
    causal = config.model_type in CAUSAL
    a.batch = a.batch or (4 if causal else 16)
    a.lr = a.lr or (2e-4 if causal else 5e-4)
    a.r = a.r or (16 if causal else 8)
    if causal and "labels" not in rows[0]:
        raise SystemExit(f"{a.data} has no chat rows: export it with --model {a.model}")
    model = (AutoModelForCausalLM if causal else AutoModelForSeq2SeqLM).from_pretrained(a.model, dtype=torch.float32)
    # PEFT 0.21's seq2seq wrapper looks up a helper that transformers 5 renamed: alias it where it is missing.
    cls = type(model)
    if not hasattr(cls, "_prepare_encoder_decoder_kwargs_for_generation") and hasattr(cls, "_prepare_text_encoder_decoder_kwargs_for_generation"):
        cls._prepare_encoder_decoder_kwargs_for_generation = cls._prepare_text_encoder_decoder_kwargs_for_generation
    if causal:
        if a.method != "lora":
            raise SystemExit("a code LLM trains LoRA here (changeling train --method prefix tunes its prefixes)")
        n = config.num_hidden_layers
        layers = list(range(n - min(a.top_layers, n), n))
        peft_config = LoraConfig(task_type=TaskType.CAUSAL_LM, r=a.r, lora_alpha=a.alpha, lora_dropout=0.0, target_modules=PROJECTIONS, layers_to_transform=layers)
    elif a.method == "prefix":
        if config.model_type != "t5":
            raise SystemExit(f"--method prefix is for T5/CodeT5 models (this one is {config.model_type}): Changeling runs PEFT's prefixes on T5 only")
        peft_config = PrefixTuningConfig(task_type=TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=a.prefix_tokens)
    else:
        peft_config = LoraConfig(task_type=TaskType.SEQ_2_SEQ_LM, r=a.r, lora_alpha=a.alpha, lora_dropout=0.0)
    model = get_peft_model(model, peft_config)
    if acc.is_main_process:
        model.print_trainable_parameters()
    pad_id = config.pad_token_id if config.pad_token_id is not None else (config.eos_token_id if isinstance(config.eos_token_id, int) else 0)
    collate_fn = (lambda b: collate_causal(b, pad_id)) if causal else (lambda b: collate(b, pad_id, a.max_target))
    loader = DataLoader(rows, batch_size=a.batch, shuffle=True, collate_fn=collate_fn)
    steps = a.max_steps or math.ceil(a.epochs * math.ceil(len(loader) / acc.num_processes))
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=a.lr)
    sched = get_linear_schedule_with_warmup(opt, 0, steps)
    model, opt, loader, sched = acc.prepare(model, opt, loader, sched)
    model.train()
    step = 0
    while step < steps:
        for batch in loader:
            loss = model(**batch).loss
            acc.backward(loss)
            acc.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            if acc.is_main_process:
                print(json.dumps({"step": step, "steps": steps, "loss": round(loss.item(), 4)}), flush=True)
            if step >= steps:
                break
    acc.wait_for_everyone()
    if acc.is_main_process:
        acc.unwrap_model(model).save_pretrained(a.out)
        print(json.dumps({"adapter": a.out, "steps": step}))


if __name__ == "__main__":
    main()
