"""Train the JIT-Fine-style risk model (LoRA on CodeBERT and JIT-Fine's head) on a GPU cluster, from a `changeling export --task jitdp --model ENCODER` folder.

The export's rows carry the neural model's input ids (`<s> message </s></s> added </s></s> removed </s>`,
exactly as `changeling risk-train --encoder` builds them) and the expert features scaled with the training
split's statistics (scaling.json), so this script only pads, batches and trains: Hugging Face transformers +
PEFT under accelerate, on any number of GPUs or nodes. It writes a folder in the form `changeling risk` reads
(PEFT's adapter_config.json and adapter_model.safetensors, the head in extra_trainable.safetensors, and
jitdp.json); bring it back with `changeling adopt --task jitdp --adapter OUT --model ENCODER`, which
calibrates it on the repository's validation split and adopts it when it beats the model in use there.

  changeling export --task jitdp --model ENCODER --repo REPO... --out DATA
  accelerate launch [--num_processes N ...] recipes/train_jitfine.py --model ENCODER --data DATA --out OUT

Defaults are the study's JIT-Fine settings as Changeling uses them: LoRA r 8, alpha 32, no dropout, on the
attention's query and value; the head over the first token's state and tanh(W x_features + b); binary
cross-entropy; AdamW at 1e-3 with a linear schedule; batch 16 per process; 3 epochs (or --max-steps). The
checkpoint kept is the last one (Changeling keeps the best on validation when it trains itself; here
`adopt` judges on the repository's validation split).
"""
import argparse
import json
import math
import os

import torch
from accelerate import Accelerator
from peft import LoraConfig, TaskType, get_peft_model
from safetensors.torch import save_file
from torch.utils.data import DataLoader
from transformers import AutoConfig, AutoModel, get_linear_schedule_with_warmup


class JitFineHead(torch.nn.Module):
    """JIT-Fine's head (concat model): [first-token state, tanh(manual_dense(features))] -> out_proj_new."""

    def __init__(self, hidden, features):
        super().__init__()
        self.manual_dense = torch.nn.Linear(features, hidden)
        self.out_proj_new = torch.nn.Linear(2 * hidden, 1)

    def forward(self, first, features):
        return self.out_proj_new(torch.cat([first, torch.tanh(self.manual_dense(features))], dim=1)).squeeze(-1)


class JitFine(torch.nn.Module):
    def __init__(self, encoder, hidden, features):
        super().__init__()
        self.encoder = encoder
        self.classifier = JitFineHead(hidden, features)

    def forward(self, input_ids, attention_mask, features):
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, 0]
        return self.classifier(h, features)


def read_rows(data, split):
    """The export's rows of one split: split.jsonl, or split.parquet (changeling export --format parquet)."""
    path = os.path.join(data, f"{split}.parquet")
    if os.path.exists(path):
        import pyarrow.parquet as pq
        return pq.read_table(path).to_pylist()
    with open(os.path.join(data, f"{split}.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def collate(rows, pad_id):
    """Pads each batch to its longest member."""
    longest = max(len(r["input_ids"]) for r in rows)
    return {
        "input_ids": torch.tensor([r["input_ids"] + [pad_id] * (longest - len(r["input_ids"])) for r in rows]),
        "attention_mask": torch.tensor([[1] * len(r["input_ids"]) + [0] * (longest - len(r["input_ids"])) for r in rows]),
        "features": torch.tensor([r["scaled_features"] for r in rows], dtype=torch.float32),
        "labels": torch.tensor([float(r["label"]) for r in rows]),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="the encoder folder (the one the export was made with)")
    p.add_argument("--data", required=True, help="the export folder (train.jsonl, scaling.json)")
    p.add_argument("--out", required=True, help="where the model folder is written")
    p.add_argument("--epochs", type=float, default=3)
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many optimizer steps (0: --epochs)")
    p.add_argument("--batch", type=int, default=16, help="per process")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--r", type=int, default=8)
    p.add_argument("--alpha", type=int, default=32)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()

    acc = Accelerator()
    torch.manual_seed(a.seed)
    scaling_path = os.path.join(a.data, "scaling.json")
    if not os.path.exists(scaling_path):
        raise SystemExit(f"{a.data} has no scaling.json: export with --model ENCODER (changeling export --task jitdp --model ENCODER ...)")
    scaling = json.load(open(scaling_path))
    rows = read_rows(a.data, "train")
    if not rows or "input_ids" not in rows[0]:
        raise SystemExit(f"{a.data}/train.jsonl has no rows with input_ids: export with --model ENCODER")
    config = AutoConfig.from_pretrained(a.model)
    encoder = AutoModel.from_pretrained(a.model, add_pooling_layer=False)
    encoder = get_peft_model(encoder, LoraConfig(task_type=TaskType.FEATURE_EXTRACTION, r=a.r, lora_alpha=a.alpha, lora_dropout=0.0, target_modules=["query", "value"]))
    model = JitFine(encoder, config.hidden_size, len(scaling["features"]))
    if acc.is_main_process:
        encoder.print_trainable_parameters()
    loader = DataLoader(rows, batch_size=a.batch, shuffle=True, collate_fn=lambda b: collate(b, config.pad_token_id if config.pad_token_id is not None else 1))
    steps = a.max_steps or math.ceil(a.epochs * math.ceil(len(loader) / acc.num_processes))
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=a.lr, weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(opt, 0, steps)
    model, opt, loader, sched = acc.prepare(model, opt, loader, sched)
    model.train()
    loss_fn = torch.nn.BCEWithLogitsLoss()
    step = 0
    while step < steps:
        for batch in loader:
            loss = loss_fn(model(batch["input_ids"], batch["attention_mask"], batch["features"]), batch["labels"])
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
        m = acc.unwrap_model(model)
        m.encoder.save_pretrained(a.out)
        head = {f"classifier.{k}": v.detach().cpu().contiguous() for k, v in m.classifier.state_dict().items()}
        save_file(head, os.path.join(a.out, "extra_trainable.safetensors"), metadata={"format": "pt"})
        positives = sum(1 for r in rows if r["label"] == 1)
        meta = {
            "format": "changeling-jitdp-neural/1", "encoder": os.path.abspath(a.model), "method": "lora", "maxLength": scaling["maxLength"],
            "scaling": {"mean": scaling["mean"], "std": scaling["std"]},
            # Uncalibrated: `changeling adopt --task jitdp` fits Platt scaling and the threshold on the repository's validation split.
            "platt": {"a": 1, "b": 0}, "threshold": 0.5, "baseRate": positives / len(rows),
            "info": {"trainedBy": "recipes/train_jitfine.py", "steps": step, "data": os.path.abspath(a.data)},
        }
        with open(os.path.join(a.out, "jitdp.json"), "w") as f:
            json.dump(meta, f, indent=1)
        print(json.dumps({"model": a.out, "steps": step}))


if __name__ == "__main__":
    main()
