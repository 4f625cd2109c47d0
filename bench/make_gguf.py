# A Qwen2 folder (config.json, safetensors, the tokenizer) as a GGUF for llama.cpp, written with llama.cpp's own `gguf`
# package: the peer of `npm run bench -- llm` runs the same random weights as Changeling. Hyperparameters under
# "qwen2.", tensors named by gguf's TensorNameMap, the vocabulary padded to the model's (ids the tokenizer lacks are
# unused tokens: the bench feeds ids, never text). TYPE f32, q8_0 or q4_0: every matrix in that type (the embedding
# too; llama.cpp's own q4_0 keeps some at 6 bits, so its real files are a little larger and a little slower),
# norms and biases f32.
#   python bench/make_gguf.py MODEL_DIR OUT.gguf TYPE
import glob, json, os, sys
import numpy as np
import gguf
from gguf import quants
from safetensors.numpy import load_file

src, out, kind = sys.argv[1], sys.argv[2], sys.argv[3]
qtype = {"f32": None, "q8_0": gguf.GGMLQuantizationType.Q8_0, "q4_0": gguf.GGMLQuantizationType.Q4_0}[kind]
cfg = json.load(open(os.path.join(src, "config.json")))
tok = json.load(open(os.path.join(src, "tokenizer.json")))
n_layers = cfg["num_hidden_layers"]
w = gguf.GGUFWriter(out, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.QWEN2])
w.add_name(os.path.basename(src))
w.add_context_length(cfg["max_position_embeddings"])
w.add_embedding_length(cfg["hidden_size"])
w.add_block_count(n_layers)
w.add_feed_forward_length(cfg["intermediate_size"])
w.add_head_count(cfg["num_attention_heads"])
w.add_head_count_kv(cfg["num_key_value_heads"])
w.add_rope_freq_base(cfg.get("rope_theta", (cfg.get("rope_parameters") or {}).get("rope_theta", 10000.0)))
w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
w.add_file_type({"f32": gguf.LlamaFileType.ALL_F32, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0, "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0}[kind])
vocab = cfg["vocab_size"]
by_id = {i: t for t, i in tok["model"]["vocab"].items()}
added = {a["id"]: a["content"] for a in tok["added_tokens"]}
tokens, types = [], []
for i in range(vocab):
    if i in added:
        tokens.append(added[i]); types.append(gguf.TokenType.CONTROL)
    elif i in by_id:
        tokens.append(by_id[i]); types.append(gguf.TokenType.NORMAL)
    else:
        tokens.append(f"[PAD{i}]"); types.append(gguf.TokenType.UNUSED)
w.add_tokenizer_model("gpt2")
w.add_tokenizer_pre("qwen2")
w.add_token_list(tokens)
w.add_token_types(types)
w.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in tok["model"].get("merges", [])])
eos = cfg["eos_token_id"]
w.add_eos_token_id(eos if isinstance(eos, int) else eos[0])
w.add_pad_token_id(0)
w.add_add_bos_token(False)
names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, n_layers)
files = sorted(glob.glob(os.path.join(src, "*.safetensors")))
for f in files:
    for hf, data in load_file(f).items():
        if hf == "lm_head.weight" and cfg.get("tie_word_embeddings"):
            continue
        name = names.get_name(hf, try_suffixes=(".weight", ".bias"))
        assert name is not None, hf
        data = data.astype(np.float32)
        if qtype is not None and data.ndim == 2:
            w.add_tensor(name, quants.quantize(data, qtype), raw_shape=data.shape, raw_dtype=qtype)
        else:
            w.add_tensor(name, data)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print(json.dumps({"out": out, "bytes": os.path.getsize(out), "type": kind}))
