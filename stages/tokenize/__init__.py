"""Tokenization: Qwen byte-level BPE (tiktoken, offline ranks) or any local Hugging Face tokenizer.json."""

INDEX = {
    "qwen_tokenize_v1": "dataforge.stages.tokenize.qwen:QwenTokenize",
}
