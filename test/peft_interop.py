# Interop with Hugging Face PEFT (run by .ci/run with the machine image's wheels): adapters trained by
# `changeling train` (LoRA, and prefix-tuning in PEFT's T5 form; on a tiny Qwen2 LoRA and PEFT's causal-LM
# prefix) load in PEFT and give the logits Changeling computes for them.
#   python test/peft_interop.py   (from the repository root, after `npm run build`)
import atexit
import shutil
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
atexit.register(shutil.rmtree, work, True)
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
# LoRA on a RoBERTa with the JIT-Fine head (the risk model's shape): the adapter loads in PEFT, the head is
# read from extra_trainable.safetensors beside it, and the probabilities agree.
from safetensors.torch import load_file
from transformers import RobertaForSequenceClassification

RBASE = os.path.join(ROOT, "test", "fixtures", "goldens", "roberta-tiny")
random.seed(5)
crows = [{"input_ids": [0] + [random.randint(5, 400) for _ in range(8)] + [2], "label": random.randint(0, 1), "features": [random.random() for _ in range(14)]} for _ in range(16)]
cdata = os.path.join(work, "cls.jsonl")
open(cdata, "w").write("\n".join(json.dumps(r) for r in crows) + "\n")
rout = os.path.join(work, "roberta-lora")
subprocess.run(cli + ["train", "--model", RBASE, "--method", "lora", "--data", cdata, "--out", rout, "--steps", "6", "--lr", "5e-3", "--json"], check=True, capture_output=True)
cbatch = {"input_ids": [crows[0]["input_ids"], crows[1]["input_ids"]], "attention_mask": [[1] * 10, [1] * 10], "expert_features": [crows[0]["features"], crows[1]["features"]]}
cspec = os.path.join(work, "cin.json")
json.dump(cbatch, open(cspec, "w"))
ours = json.loads(subprocess.run(cli + ["inspect", "--model", RBASE, "--adapter", rout, "--input", cspec, "--json", "--provider", "cpu"], check=True, capture_output=True, text=True).stdout)
model = PeftModel.from_pretrained(RobertaForSequenceClassification.from_pretrained(RBASE), rout).eval()
head = load_file(os.path.join(rout, "extra_trainable.safetensors"))
with torch.no_grad():
    h0 = model.base_model.model.roberta(input_ids=torch.tensor(cbatch["input_ids"]), attention_mask=torch.tensor(cbatch["attention_mask"])).last_hidden_state[:, 0, :]
    e = torch.tanh(torch.tensor(cbatch["expert_features"]) @ head["classifier.manual_dense.weight"].T + head["classifier.manual_dense.bias"])
    prob = torch.sigmoid(torch.cat([h0, e], dim=1) @ head["classifier.out_proj_new.weight"].T + head["classifier.out_proj_new.bias"]).flatten()
diff = (torch.tensor(ours["jitfine_probabilities"]["data"]) - prob).abs().max().item()
ok = diff < 1e-5
failures += not ok
print(f"roberta lora + JIT-Fine head: PEFT loaded the adapter (probabilities {prob.tolist()}); max |probability difference| = {diff:.2e} ({'ok' if ok else 'MISMATCH'})")
# The code LLM (a tiny Qwen2): LoRA on all seven projections and PEFT's prefix-tuning (its past_key_values
# form) trained here load in PEFT and give the logits Changeling computes for them.
from transformers import AutoModelForCausalLM

QBASE = os.path.join(ROOT, "test", "fixtures", "decoder", "qwen2-tiny")
random.seed(7)
qrows = []
for _ in range(16):
    ids = [1] + [random.randint(5, 300) for _ in range(random.randint(5, 10))] + [2]
    qrows.append({"input_ids": ids, "labels": [-100, -100] + ids[2:]})
qdata = os.path.join(work, "causal.jsonl")
open(qdata, "w").write("\n".join(json.dumps(r) for r in qrows) + "\n")
qbatch = {"input_ids": [qrows[0]["input_ids"][:6]], "attention_mask": [[1] * 6]}
qspec = os.path.join(work, "qin.json")
json.dump(qbatch, open(qspec, "w"))
for method, extra in [("lora", ["--targets", "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"]), ("prefix", ["--prefix-tokens", "3"])]:
    out = os.path.join(work, "qwen2-" + method)
    subprocess.run(cli + ["train", "--model", QBASE, "--method", method, *extra, "--data", qdata, "--out", out, "--steps", "6", "--lr", "5e-3", "--json"], check=True, capture_output=True)
    ours = json.loads(subprocess.run(cli + ["inspect", "--model", QBASE, "--adapter", out, "--input", qspec, "--json", "--provider", "cpu"], check=True, capture_output=True, text=True).stdout)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(QBASE, dtype=torch.float32, attn_implementation="eager"), out).eval()
    with torch.no_grad():
        theirs = model(input_ids=torch.tensor(qbatch["input_ids"]), attention_mask=torch.tensor(qbatch["attention_mask"])).logits
    diff = (torch.tensor(ours["logits"]["data"]).view(theirs.shape) - theirs).abs().max().item()
    ok = diff < 1e-4
    failures += not ok
    print(f"qwen2 {method}: PEFT loaded the adapter; max |logit difference| = {diff:.2e} ({'ok' if ok else 'MISMATCH'})")
sys.exit(1 if failures else 0)
