# The PyTorch + PEFT side of `npm run bench -- train-llm` (the image's wheels; never used by the extension):
# LoRA on all seven projections of the given layers of a causal LM, AdamW, the last `labelled` tokens of each row
# labelled (-100 before them; transformers computes the logits of every position all the same).
# Prints one JSON line: seconds per train step after the first, tokens/s, peak RSS.
import json, resource, sys, time, torch
from transformers import AutoModelForCausalLM
from peft import LoraConfig, get_peft_model

model_dir, r, layers, batch, tokens, steps, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
labelled = int(sys.argv[8]) if len(sys.argv) > 8 else tokens
torch.set_num_threads(threads)
torch.manual_seed(0)
a, b = (int(x) for x in layers.split("-"))
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
model = get_peft_model(model, LoraConfig(r=r, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
                                         target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                                         layers_to_transform=list(range(a, b + 1))))
model.train()
ids = torch.randint(5, 1995, (batch, tokens))
labels = ids.clone()
labels[:, : tokens - labelled] = -100
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.01)
stamps = []
for _ in range(steps):
    opt.zero_grad()
    loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    opt.step()
    stamps.append(time.perf_counter())
per = (stamps[-1] - stamps[0]) / max(1, len(stamps) - 1)
trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
print(json.dumps({"secondsPerStep": per, "tokensPerSecond": batch * tokens / per, "trainableParameters": trainable,
                  "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
