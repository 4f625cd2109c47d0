# A Qwen2 folder (config.json, safetensors, the tokenizer) as a GGUF for llama.cpp, written with llama.cpp's own `gguf`
# package as its convert_hf_to_gguf.py writes a Qwen2: hyperparameters under "<arch>.", tensors named by gguf's
# TensorNameMap (a tied embedding only as token_embd), the byte-level BPE vocabulary ("gpt2", pre-tokenizer "qwen2")
# padded to the model's size (ids the tokenizer lacks are unused tokens), added tokens as control tokens, merges and
# special ids from SpecialVocab. TYPE f32, q8_0 or q4_0: every matrix in that type (the embedding too; llama.cpp's own
# q4_0 keeps some at 6 bits), norms and biases f32. ARCH llama writes the same network as a Llama: transformers' Llama
# with attention_bias computes what Qwen2 computes when the output projection's bias is zero, and convert_hf_to_gguf.py
# writes a Llama's query and key rows (weights and biases) permuted for llama.cpp's rotary (LlamaModel.permute: per
# head, (2, half) -> (half, 2)). Used by `npm run bench -- llm` (the llama.cpp peer on the same weights) and by
# test/fixtures/decoder/make_gguf_base.py (the tests' GGUFs).
#   python bench/make_gguf.py MODEL_DIR OUT.gguf TYPE [ARCH]
import glob, json, os, sys
import numpy as np
import gguf
from gguf import quants
from safetensors.numpy import load_file

QTYPES = {"f32": None, "q8_0": gguf.GGMLQuantizationType.Q8_0, "q4_0": gguf.GGMLQuantizationType.Q4_0}
FTYPES = {"f32": gguf.LlamaFileType.ALL_F32, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0, "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0}
ARCHS = {"qwen2": gguf.MODEL_ARCH.QWEN2, "llama": gguf.MODEL_ARCH.LLAMA}


def permute(x, heads):
    """convert_hf_to_gguf's LlamaModel.permute, on rows (numpy)."""
    return x.reshape(heads, 2, x.shape[0] // heads // 2, *x.shape[1:]).swapaxes(1, 2).reshape(x.shape)


def write_gguf(src, out, kind="f32", arch_name="qwen2"):
    qtype, arch = QTYPES[kind], ARCHS[arch_name]
    cfg = json.load(open(os.path.join(src, "config.json")))
    tok = json.load(open(os.path.join(src, "tokenizer.json")))
    n_layers = cfg["num_hidden_layers"]
    w = gguf.GGUFWriter(out, gguf.MODEL_ARCH_NAMES[arch])
    w.add_name(os.path.basename(os.path.normpath(src)))
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(n_layers)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_rope_freq_base((cfg.get("rope_parameters") or {}).get("rope_theta", cfg.get("rope_theta", 10000.0)))
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_file_type(FTYPES[kind])
    if arch == gguf.MODEL_ARCH.LLAMA:
        w.add_vocab_size(cfg["vocab_size"])
        w.add_rope_dimension_count(cfg["hidden_size"] // cfg["num_attention_heads"])
    # The vocabulary as convert_hf_to_gguf's get_vocab_base writes it: every id, added tokens as control tokens.
    vocab_size = cfg["vocab_size"]
    by_id = {i: t for t, i in tok["model"]["vocab"].items()}
    added = {a["id"]: a["content"] for a in tok["added_tokens"]}
    tokens, types = [], []
    for i in range(vocab_size):
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
    gguf.SpecialVocab(src, load_merges=True, n_vocab=vocab_size).add_to_gguf(w)
    names = gguf.get_tensor_name_map(arch, n_layers)
    tensors = {}
    for f in sorted(glob.glob(os.path.join(src, "*.safetensors"))):
        tensors.update(load_file(f))
    if arch == gguf.MODEL_ARCH.LLAMA:
        for i in range(n_layers):
            tensors[f"model.layers.{i}.self_attn.o_proj.bias"] = np.zeros(cfg["hidden_size"], np.float32)
    for hf, data in tensors.items():
        if hf == "lm_head.weight" and cfg.get("tie_word_embeddings"):
            continue
        data = data.astype(np.float32)
        if arch == gguf.MODEL_ARCH.LLAMA and (".q_proj." in hf or ".k_proj." in hf):
            data = permute(data, cfg["num_attention_heads"] if ".q_proj." in hf else cfg["num_key_value_heads"])
        name = names.get_name(hf, try_suffixes=(".weight", ".bias"))
        assert name is not None, hf
        if qtype is not None and data.ndim == 2:
            w.add_tensor(name, quants.quantize(data, qtype), raw_dtype=qtype)
        else:
            w.add_tensor(name, np.ascontiguousarray(data))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return os.path.getsize(out)


if __name__ == "__main__":
    size = write_gguf(*sys.argv[1:5])
    print(json.dumps({"out": sys.argv[2], "bytes": size, "type": sys.argv[3]}))
