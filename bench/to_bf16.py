"""The benchmark's random model as a bf16 checkpoint (what the hub serves): `to_bf16.py SRC DST`. Config and tokenizer
files are copied; model.safetensors is rewritten with every tensor in bfloat16."""
import json
import os
import shutil
import sys

import torch
from safetensors.torch import load_file, save_file

src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
for f in os.listdir(src):
    if f.endswith(('.json', '.jinja')) and f != 'model.safetensors.index.json':
        shutil.copy(os.path.join(src, f), dst)
# One file, or the shards an index lists; written as one bf16 file either way.
index = os.path.join(src, 'model.safetensors.index.json')
files = sorted(set(json.load(open(index))['weight_map'].values())) if os.path.exists(index) else ['model.safetensors']
weights = {}
for f in files:
    weights.update(load_file(os.path.join(src, f)))
tmp = os.path.join(dst, 'model.safetensors.tmp')
save_file({k: v.to(torch.bfloat16).contiguous() for k, v in weights.items()}, tmp, metadata={'format': 'pt'})
os.replace(tmp, os.path.join(dst, 'model.safetensors'))
