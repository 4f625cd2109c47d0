# A full-size Qwen2.5-Coder-0.5B-shaped checkpoint with random weights, in bf16 safetensors as the hub ships it
# (config.json in the transformers 4 form the hub has), checked against transformers on a short left-padded
# batch: logits at every position and 12 greedy tokens through the cache. Run by .ci/run with the image's wheels.
#   python test/decoder_fullsize.py   (from the repository root, after `npm run build`)
import json, os, shutil, subprocess, sys, tempfile
import torch
from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
cli = [os.environ.get("NODE", "node"), os.path.join(ROOT, "dist", "cli.mjs")]
work = tempfile.mkdtemp(prefix="changeling-fullsize-")
try:
    model_dir = os.path.join(work, "qwen2.5-coder-0.5b-random")
    config = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                         num_key_value_heads=2, max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6,
                         tie_word_embeddings=True, bos_token_id=151643, eos_token_id=151645, use_sliding_window=False,
                         sliding_window=32768, max_window_layers=24)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(model_dir)
    GenerationConfig(bos_token_id=151643, pad_token_id=151643, eos_token_id=[151645, 151643]).save_pretrained(model_dir)
    # The hub's config.json is in the transformers 4 form: rope_theta at the top, rope_scaling null.
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    cfg.pop("rope_parameters", None)
    cfg.pop("layer_types", None)
    cfg.update(rope_theta=1000000.0, rope_scaling=None, torch_dtype="bfloat16")
    json.dump(cfg, open(os.path.join(model_dir, "config.json"), "w"), indent=2)
    size = os.path.getsize(os.path.join(model_dir, "model.safetensors"))
    print(f"wrote {size / 2**20:.0f} MiB of bf16 weights")
    del model
    ref = Qwen2ForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    g = torch.Generator().manual_seed(1)
    ids = torch.full((2, 10), 151643, dtype=torch.long)
    mask = torch.zeros((2, 10), dtype=torch.long)
    for r, n in enumerate([10, 6]):
        ids[r, 10 - n:] = torch.randint(0, 151000, (n,), generator=g)
        mask[r, 10 - n:] = 1
    pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    with torch.no_grad():
        logits = ref(input_ids=ids, attention_mask=mask, position_ids=pos).logits
        greedy = ref.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=12, eos_token_id=[151645, 151643],
                              pad_token_id=151643)
    spec = os.path.join(work, "input.json")
    json.dump({"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "generate": {"max_new_tokens": 12}}, open(spec, "w"))
    r = subprocess.run(cli + ["inspect", "--model", model_dir, "--input", spec, "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAILED: changeling inspect: {r.stderr.strip()}")
    out = json.loads(r.stdout)
    ours = torch.tensor(out["logits"]["data"]).reshape(out["logits"]["shape"])
    err = ((ours - logits).abs().max() / logits.abs().max()).item()
    same = out["sequences"]["data"] == greedy.flatten().tolist()
    print(f"{'ok' if err < 1e-5 else 'FAILED'}: logits at every position, max difference {err:.2e} of the largest logit")
    print(f"{'ok' if same else 'FAILED'}: 12 greedy tokens through the cache {'identical' if same else 'differ'}")
    sys.exit(0 if err < 1e-5 and same else 1)
finally:
    shutil.rmtree(work, ignore_errors=True)
