# The PyTorch + PEFT side of `npm run bench -- train` (the image's wheels; never used by the extension).
# Prints one JSON line: seconds per train step (best of runs after a warm-up), tokens/s, peak RSS.
import json, resource, sys, time, torch
from transformers import AutoConfig, RobertaForSequenceClassification, T5ForConditionalGeneration
from peft import LoraConfig, get_peft_model

model_dir, method, r, batch, src, tgt, runs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
torch.set_num_threads(threads)
torch.manual_seed(0)
cfg = AutoConfig.from_pretrained(model_dir)
ids = torch.randint(5, cfg.vocab_size - 1, (batch, src))
mask = torch.ones_like(ids)
if cfg.model_type == "t5":
    model = T5ForConditionalGeneration.from_pretrained(model_dir)
    labels = torch.randint(5, cfg.vocab_size - 1, (batch, tgt))
    targets = ["q", "v"]
    step_inputs = dict(input_ids=ids, attention_mask=mask, labels=labels)
    loss_of = lambda out: out.loss
else:
    model = RobertaForSequenceClassification.from_pretrained(model_dir, num_labels=1)
    y = torch.randint(0, 2, (batch,)).float()
    targets = ["query", "value"]
    step_inputs = dict(input_ids=ids, attention_mask=mask)
    loss_of = lambda out: torch.nn.functional.binary_cross_entropy_with_logits(out.logits.view(-1), y)
if method == "lora":
    extra = {} if cfg.model_type == "t5" else {"modules_to_save": ["classifier"]}
    model = get_peft_model(model, LoraConfig(r=r, lora_alpha=32, lora_dropout=0.0, target_modules=targets, **extra))
model.train()
for m in model.modules():
    if isinstance(m, torch.nn.Dropout):
        m.p = 0.0
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.01)
def step():
    opt.zero_grad()
    loss = loss_of(model(**step_inputs))
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    opt.step()
step()
best = float("inf")
for _ in range(runs):
    t = time.perf_counter()
    step()
    best = min(best, time.perf_counter() - t)
tokens = batch * (src + (tgt if cfg.model_type == "t5" else 0))
trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
print(json.dumps({"secondsPerStep": best, "tokensPerSecond": tokens / best, "trainableParameters": trainable, "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
