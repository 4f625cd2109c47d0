# Interop with Hugging Face PEFT (run by .ci/run with the machine image's wheels): adapters trained by
# `changeling train` (LoRA, and prefix-tuning in PEFT's T5 form) load in PEFT and give the logits Changeling
# computes for them.
#   python test/peft_interop.py   (from the repository root, after `npm run build`)
import json, os, random, subprocess, sys, tempfile
import torch
from peft import PeftModel
from transformers import T5ForConditionalGeneration

# PEFT 0.21's seq2seq wrapper still looks up a helper that transformers 5 renamed; alias it (test-only shim).
if not hasattr(T5ForConditionalGeneration, "_prepare_encoder_decoder_kwargs_for_generation"):
    T5ForConditionalGeneration._prepare_encoder_decoder_kwargs_for_generation = T5ForConditionalGeneration._prepare_text_encoder_decoder_kwargs_for_generation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = os.path.join(ROOT, "test", "fixtures", "goldens", "t5-tiny")
work = tempfile.mkdtemp(prefix="changeling-interop-")
random.seed(3)
rows = []
for _ in range(24):
    ids = [random.randint(5, 500) for _ in range(random.randint(4, 9))] + [2]
    rows.append({"input_ids": ids, "labels": ids[:3] + [2]})
data = os.path.join(work, "data.jsonl")
open(data, "w").write("\n".join(json.dumps(r) for r in rows) + "\n")
cli = [os.environ.get("NODE", "node"), os.path.join(ROOT, "dist", "cli.mjs")]
failures = 0
# LoRA, and prefix-tuning in PEFT's T5 form (decoder self-attention prefixes, which generation starts from).
for method, extra in [("lora", []), ("prefix", ["--peft-prefix", "--prefix-tokens", "3"])]:
    out = os.path.join(work, method)
    subprocess.run(cli + ["train", "--model", BASE, "--method", method, *extra, "--data", data, "--out", out, "--steps", "6", "--lr", "5e-3", "--json"], check=True, capture_output=True)
    batch = {"input_ids": [rows[0]["input_ids"][:5], rows[1]["input_ids"][:5]], "attention_mask": [[1] * 5, [1] * 5], "decoder_input_ids": [[0, 7, 9], [0, 11, 13]]}
    spec = os.path.join(work, "in.json")
    json.dump(batch, open(spec, "w"))
    ours = json.loads(subprocess.run(cli + ["inspect", "--model", BASE, "--adapter", out, "--input", spec, "--json", "--provider", "cpu"], check=True, capture_output=True, text=True).stdout)
    model = PeftModel.from_pretrained(T5ForConditionalGeneration.from_pretrained(BASE), out).eval()
    with torch.no_grad():
        theirs = model(input_ids=torch.tensor(batch["input_ids"]), attention_mask=torch.tensor(batch["attention_mask"]), decoder_input_ids=torch.tensor(batch["decoder_input_ids"])).logits
    diff = (torch.tensor(ours["logits"]["data"]).view(theirs.shape) - theirs).abs().max().item()
    ok = diff < 1e-4
    failures += not ok
    print(f"{method}: PEFT loaded the adapter; max |logit difference| = {diff:.2e} ({'ok' if ok else 'MISMATCH'})")
sys.exit(1 if failures else 0)
