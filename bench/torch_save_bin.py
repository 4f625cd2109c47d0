# Writes a full-size random CodeT5-base as PyTorch saves it (torch.save of the state dict: a zip whose tied
# embeddings share one storage), for `npm run bench -- load`. Run with the image's wheels, never by the extension.
import json, sys, torch
from transformers import T5Config, T5ForConditionalGeneration

out = sys.argv[1]
torch.manual_seed(0)
cfg = T5Config(vocab_size=32100, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_decoder_layers=12, num_heads=12, feed_forward_proj="relu",
               tie_word_embeddings=True, pad_token_id=0, eos_token_id=2, decoder_start_token_id=0)
model = T5ForConditionalGeneration(cfg).eval()
cfg.save_pretrained(out)
torch.save(model.state_dict(), f"{out}/pytorch_model.bin")
print(json.dumps({"parameters": sum(p.numel() for p in model.parameters())}))
