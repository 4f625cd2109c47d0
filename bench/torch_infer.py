# The PyTorch + transformers side of `npm run bench -- infer` (run with the image's wheels, never by the
# extension): same model folder, same shapes; prints one JSON line with seconds (best of runs) and peak RSS.
import json, resource, sys, time, torch
from transformers import AutoConfig, RobertaForSequenceClassification, T5ForConditionalGeneration

model_dir, case, src_len, new_tokens, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(int(sys.argv[6]) if len(sys.argv) > 6 else 2)
cfg = AutoConfig.from_pretrained(model_dir)
g = torch.Generator().manual_seed(0)
ids = torch.randint(5, cfg.vocab_size - 1, (1, src_len), generator=g)
mask = torch.ones_like(ids)
if cfg.model_type == "t5":
    model = T5ForConditionalGeneration.from_pretrained(model_dir).eval()
    kw = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, num_beams=1 if case == "greedy" else 5)
    if case == "beam10":  # the CommitChronicle models' setting: 10 beams, no repeated 3-grams, 15 new tokens
        kw = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, num_beams=10, no_repeat_ngram_size=3)
    fn = lambda: model.generate(input_ids=ids, attention_mask=mask, **kw)
else:
    model = RobertaForSequenceClassification.from_pretrained(model_dir).eval()
    fn = lambda: model(input_ids=ids, attention_mask=mask).logits
with torch.inference_mode():
    fn()
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
print(json.dumps({"seconds": best, "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "torch": torch.__version__}))
