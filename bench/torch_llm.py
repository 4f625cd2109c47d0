# The PyTorch side of `npm run bench -- llm`: transformers' Qwen2ForCausalLM in fp32 on the same random weights, a
# prompt of N ids (the same seeded ids as the other sides are not needed: the cost does not depend on them) prefilled,
# then NEW tokens greedily with the key/value cache. Prints {"load", "prefill", "decode", "tokens"} in seconds.
#   python bench/torch_llm.py MODEL_DIR N NEW THREADS
import json, sys, time
import torch
from transformers import AutoModelForCausalLM

src, n, new, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
t0 = time.perf_counter()
model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).eval()
t1 = time.perf_counter()
g = torch.Generator().manual_seed(3)
ids = torch.randint(10, 1910, (1, n), generator=g)
with torch.inference_mode():
    out = model(input_ids=ids, use_cache=True)
    past = out.past_key_values
    token = out.logits[:, -1].argmax(-1, keepdim=True)
    t2 = time.perf_counter()
    for _ in range(new - 1):
        out = model(input_ids=token, past_key_values=past, use_cache=True)
        past = out.past_key_values
        token = out.logits[:, -1].argmax(-1, keepdim=True)
    t3 = time.perf_counter()
print(json.dumps({"load": t1 - t0, "prefill": t2 - t1, "decode": t3 - t2, "tokens": new}))
