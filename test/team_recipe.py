# Team scale, end to end on the CPU (run by .ci/run with the machine image's wheels): `changeling export`
# writes a dataset that Hugging Face `datasets` loads as it is; recipes/train_lora.py trains two steps under
# `accelerate launch --num_processes 1`; the adapter it writes gives the same logits in Changeling as in PEFT;
# `changeling adopt` checks it on the validation split and adopts it (with --force: two steps do not help); the same
# for a code LLM (a tiny trained Qwen2): chat rows, a Qwen2 LoRA from the recipe, PEFT's logits, adopt.
#   python test/team_recipe.py   (from the repository root, after `npm run build`)
import atexit
import json, os, shutil, subprocess, sys, tempfile
import torch
from peft import PeftModel
from transformers import RobertaConfig, RobertaModel, T5Config, T5ForConditionalGeneration

# PEFT 0.21's seq2seq wrapper still looks up a helper that transformers 5 renamed (as in peft_interop.py).
if not hasattr(T5ForConditionalGeneration, "_prepare_encoder_decoder_kwargs_for_generation"):
    T5ForConditionalGeneration._prepare_encoder_decoder_kwargs_for_generation = T5ForConditionalGeneration._prepare_text_encoder_decoder_kwargs_for_generation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOK = os.path.join(ROOT, "test", "fixtures", "goldens", "tokenizers", "codet5")
cli = [os.environ.get("NODE", "node"), os.path.join(ROOT, "dist", "cli.mjs")]
work = tempfile.mkdtemp(prefix="changeling-team-")
atexit.register(shutil.rmtree, work, True)
env = {**os.environ, "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com", "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com", "GIT_CONFIG_GLOBAL": "/dev/null"}

# A small T5 with CodeT5's vocabulary, and its tokenizer.
model_dir = os.path.join(work, "model")
torch.manual_seed(0)
T5ForConditionalGeneration(T5Config(vocab_size=32100, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4, relative_attention_num_buckets=8,
                                    decoder_start_token_id=0, pad_token_id=0, eos_token_id=2)).save_pretrained(model_dir)
for f in ("tokenizer.json", "vocab.json", "merges.txt", "special_tokens.json"):
    shutil.copy(os.path.join(TOK, f), model_dir)

# A history of 40 commits.
repo = os.path.join(work, "repo")
os.makedirs(repo)
git = lambda *a: subprocess.run(["git", *a], cwd=repo, env=env, check=True, capture_output=True)
git("init", "-q", "-b", "main")
for i in range(40):
    with open(os.path.join(repo, f"m{i % 5}.py"), "a") as f:
        f.write(f"def f{i}(x):\n    return x + {i}\n")
    git("add", "-A")
    git("commit", "-q", "-m", f"Add f{i} to module {i % 5}")

failures = 0
def check(ok, what):
    global failures
    failures += not ok
    print(f"{'ok' if ok else 'FAILED'}: {what}")

data = os.path.join(work, "data")
summary = json.loads(subprocess.run(cli + ["export", "--task", "cmg", "--model", model_dir, "--repo", repo, "--out", data, "--json", "--quiet"], check=True, capture_output=True, text=True).stdout)
check(summary["repositories"][0]["train"] == 32, f"export: {summary['repositories'][0]}")
try:
    import datasets
    ds = datasets.load_dataset("json", data_dir=data)
    check(sorted(ds.keys()) == ["test", "train", "validation"] and len(ds["train"]) == 32, f"datasets loads the export as it is: {ds}")
    # The same rows as Parquet (export --format parquet), which datasets loads as well.
    pdata = os.path.join(work, "data-parquet")
    subprocess.run(cli + ["export", "--task", "cmg", "--model", model_dir, "--repo", repo, "--out", pdata, "--format", "parquet", "--json", "--quiet"], check=True, capture_output=True, text=True)
    pds = datasets.load_dataset("parquet", data_dir=pdata)
    same = all(pds[k].to_list() == ds[k].to_list() for k in ("train", "validation", "test"))
    check(same and sorted(f for f in os.listdir(pdata) if f != ".changeling-output.json") == ["README.md", "test.parquet", "train.parquet", "validation.parquet"], "export --format parquet: the same rows, loaded by datasets from Parquet")
except ImportError:
    print("datasets is not installed: the load check is skipped")

batch = {"input_ids": [[1, 500, 600, 700, 2], [1, 900, 1000, 2, 0]], "attention_mask": [[1] * 5, [1, 1, 1, 1, 0]], "decoder_input_ids": [[0, 7, 9], [0, 11, 13]]}
spec = os.path.join(work, "in.json")
json.dump(batch, open(spec, "w"))
base = T5ForConditionalGeneration.from_pretrained(model_dir).eval()
# LoRA, and PEFT's prefix-tuning (which Changeling runs as PEFT injects it: the decoder's self-attention).
for method, extra in [("lora", []), ("prefix", ["--method", "prefix", "--prefix-tokens", "3"])]:
    out = os.path.join(work, f"adapter-{method}")
    run = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--cpu", os.path.join(ROOT, "recipes", "train_lora.py"),
                          "--model", model_dir, "--data", data, "--out", out, "--max-steps", "2", "--batch", "4", "--lr", "5e-2", *extra], capture_output=True, text=True)
    print(run.stdout[-600:], run.stderr[-4000:-1200] if run.returncode else "")
    check(run.returncode == 0 and os.path.exists(os.path.join(out, "adapter_model.safetensors")), f"the recipe trained {method} two steps under accelerate launch and wrote a PEFT adapter")
    ours = json.loads(subprocess.run(cli + ["inspect", "--model", model_dir, "--adapter", out, "--input", spec, "--json", "--provider", "cpu"], check=True, capture_output=True, text=True).stdout)
    peft = PeftModel.from_pretrained(T5ForConditionalGeneration.from_pretrained(model_dir), out).eval()
    with torch.no_grad():
        args = {k: torch.tensor(v) for k, v in batch.items()}
        theirs = peft(**args).logits
        untuned = base(**args).logits
    diff = (torch.tensor(ours["logits"]["data"]).view(theirs.shape) - theirs).abs().max().item()
    check(diff < 1e-4 and (theirs - untuned).abs().max().item() > 1e-4, f"the recipe's {method} adapter: max |logit difference| Changeling vs PEFT = {diff:.2e} (and it changed the model)")
adapter = os.path.join(work, "adapter-lora")

r = json.loads(subprocess.run(cli + ["adopt", "--task", "cmg", "--adapter", adapter, "--repo", repo, "--force", "--eval-cap", "4", "--json", "--quiet"], check=True, capture_output=True, text=True).stdout)
check(r["adopted"] and r["model"] == model_dir and os.path.exists(os.path.join(repo, ".git", "changeling", "cmg-model.json")), f"adopt (base model found from the adapter's config): {r['reason']}")

# The code LLM: the tiny Qwen2 trained here (tokenizer, chat template) as the base. export --task cmg writes the chat
# rows finetune tunes it on; the recipe trains LoRA on its top layer under accelerate; Changeling gives PEFT's logits
# for that adapter; adopt checks it on the validation split in the prompt ✨ gives the model (and adopts with --force).
from transformers import AutoModelForCausalLM
qmodel = os.path.join(work, "qwen2")
shutil.copytree(os.path.join(ROOT, "test", "fixtures", "decoder", "qwen2-trained"), qmodel)
qdata = os.path.join(work, "qwen2-data")
summary = json.loads(subprocess.run(cli + ["export", "--task", "cmg", "--model", qmodel, "--repo", repo, "--out", qdata, "--json", "--quiet"], check=True, capture_output=True, text=True).stdout)
qrows = [json.loads(l) for l in open(os.path.join(qdata, "train.jsonl"))]
check(summary["format"] == "chat" and len(qrows) == 32 and all(r["messages"][-1]["role"] == "assistant" and r["messages"][-1]["content"] == r["target"]
      and len(r["input_ids"]) == len(r["labels"]) and any(x != -100 for x in r["labels"]) for r in qrows), f"export --task cmg --model <code LLM>: {len(qrows)} chat rows with ids and labels")
try:
    import datasets
    qds = datasets.load_dataset("json", data_dir=qdata)
    check(len(qds["train"]) == 32 and qds["train"][0]["messages"][-1]["role"] == "assistant", "datasets loads the chat rows as they are")
except ImportError:
    pass
qout = os.path.join(work, "adapter-qwen2")
run = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--cpu", os.path.join(ROOT, "recipes", "train_lora.py"),
                      "--model", qmodel, "--data", qdata, "--out", qout, "--max-steps", "2", "--batch", "4", "--lr", "5e-2", "--top-layers", "1"], capture_output=True, text=True)
print(run.stdout[-600:], run.stderr[-4000:-1200] if run.returncode else "")
qcfg = json.load(open(os.path.join(qout, "adapter_config.json"))) if run.returncode == 0 else {}
check(run.returncode == 0 and qcfg.get("layers_to_transform") == [1] and qcfg.get("r") == 16 and len(qcfg.get("target_modules") or []) == 7,
      "the recipe trained a Qwen2 LoRA (r 16, seven projections, the top layer) two steps under accelerate launch")
qbatch = {"input_ids": [qrows[0]["input_ids"][:20]], "attention_mask": [[1] * 20]}
json.dump(qbatch, open(spec, "w"))
ours = json.loads(subprocess.run(cli + ["inspect", "--model", qmodel, "--adapter", qout, "--input", spec, "--json", "--provider", "cpu"], check=True, capture_output=True, text=True).stdout)
qbase = AutoModelForCausalLM.from_pretrained(qmodel, dtype=torch.float32, attn_implementation="eager").eval()
qpeft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(qmodel, dtype=torch.float32, attn_implementation="eager"), qout).eval()
with torch.no_grad():
    args = {k: torch.tensor(v) for k, v in qbatch.items()}
    theirs = qpeft(**args).logits
    untuned = qbase(**args).logits
diff = (torch.tensor(ours["logits"]["data"]).view(theirs.shape) - theirs).abs().max().item()
check(diff < 1e-4 and (theirs - untuned).abs().max().item() > 1e-4, f"the recipe's Qwen2 adapter: max |logit difference| Changeling vs PEFT = {diff:.2e} (and it changed the model)")
r = json.loads(subprocess.run(cli + ["adopt", "--task", "cmg", "--adapter", qout, "--model", qmodel, "--repo", repo, "--force", "--eval-cap", "3", "--json", "--quiet"], check=True, capture_output=True, text=True).stdout)
record = json.load(open(os.path.join(repo, ".git", "changeling", "cmg-model.json")))
check(r["adopted"] and record["model"] == qmodel and r["validation"]["commits"] == 3, f"adopt --task cmg with a code LLM's adapter: {r['reason']}")

# Risk: export with the encoder's input ids and scaled features, recipes/train_jitfine.py under accelerate, the
# same JIT-Fine logits here as in PyTorch + PEFT, and `changeling adopt --task jitdp` (calibrates, adopts with --force).
enc_dir = os.path.join(work, "encoder")
torch.manual_seed(1)
RobertaModel(RobertaConfig(vocab_size=50265, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1), add_pooling_layer=False).save_pretrained(enc_dir)
for f in ("tokenizer.json", "vocab.json", "merges.txt"):
    shutil.copy(os.path.join(ROOT, "test", "fixtures", "goldens", "tokenizers", "roberta-base", f), enc_dir)
jdata = os.path.join(work, "jitdp-data")
subprocess.run(cli + ["export", "--task", "jitdp", "--model", enc_dir, "--repo", repo, "--out", jdata, "--json", "--quiet"], check=True, capture_output=True, text=True)
rows = [json.loads(l) for l in open(os.path.join(jdata, "train.jsonl"))]
scaling = json.load(open(os.path.join(jdata, "scaling.json")))
check(len(rows) > 0 and all(len(r["input_ids"]) > 2 and r["input_ids"][0] == 0 and len(r["scaled_features"]) == 14 for r in rows) and len(scaling["mean"]) == 14, f"export --task jitdp --model: {len(rows)} rows with input ids and scaled features, scaling.json")
jout = os.path.join(work, "risk-model")
run = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--cpu", os.path.join(ROOT, "recipes", "train_jitfine.py"),
                      "--model", enc_dir, "--data", jdata, "--out", jout, "--max-steps", "2", "--batch", "4", "--lr", "5e-2"], capture_output=True, text=True)
print(run.stdout[-400:], run.stderr[-4000:-1200] if run.returncode else "")
check(run.returncode == 0 and all(os.path.exists(os.path.join(jout, f)) for f in ("adapter_config.json", "adapter_model.safetensors", "extra_trainable.safetensors", "jitdp.json")), "train_jitfine.py trained two steps under accelerate launch and wrote a risk model folder")
sample = rows[:2]
n = max(len(r["input_ids"]) for r in sample)
jspec = {"input_ids": [r["input_ids"] + [1] * (n - len(r["input_ids"])) for r in sample], "attention_mask": [[1] * len(r["input_ids"]) + [0] * (n - len(r["input_ids"])) for r in sample], "expert_features": [r["scaled_features"] for r in sample]}
json.dump(jspec, open(spec, "w"))
ours = json.loads(subprocess.run(cli + ["inspect", "--model", enc_dir, "--adapter", jout, "--input", spec, "--json", "--provider", "cpu"], check=True, capture_output=True, text=True).stdout)
from safetensors.torch import load_file
penc = PeftModel.from_pretrained(RobertaModel.from_pretrained(enc_dir, add_pooling_layer=False), jout).eval()
head = load_file(os.path.join(jout, "extra_trainable.safetensors"))
with torch.no_grad():
    h = penc(input_ids=torch.tensor(jspec["input_ids"]), attention_mask=torch.tensor(jspec["attention_mask"])).last_hidden_state[:, 0]
    e = torch.tanh(torch.tensor(jspec["expert_features"]) @ head["classifier.manual_dense.weight"].T + head["classifier.manual_dense.bias"])
    theirs = (torch.cat([h, e], 1) @ head["classifier.out_proj_new.weight"].T + head["classifier.out_proj_new.bias"]).squeeze(-1)
diff = (torch.tensor(ours["jitfine_logits"]["data"]) - theirs).abs().max().item()
check(diff < 1e-4, f"the recipe's risk model: max |logit difference| Changeling vs PyTorch + PEFT = {diff:.2e}")
r = json.loads(subprocess.run(cli + ["adopt", "--task", "jitdp", "--adapter", jout, "--model", enc_dir, "--repo", repo, "--force", "--json", "--quiet"], check=True, capture_output=True, text=True).stdout)
live = os.path.join(repo, ".git", "changeling", "risk-model")
check(r["adopted"] and os.path.exists(os.path.join(live, "jitdp.json")) and json.load(open(os.path.join(live, "jitdp.json")))["encoder"] == enc_dir, f"adopt --task jitdp: {r['reason']}")
risk = json.loads(subprocess.run(cli + ["risk", "--commit", "HEAD", "--repo", repo, "--json"], capture_output=True, text=True, cwd=repo).stdout or "null")
check(isinstance(risk, (list, dict)) and live in json.dumps(risk), "changeling risk scores with the adopted model")
shutil.rmtree(work, ignore_errors=True)
sys.exit(1 if failures else 0)
