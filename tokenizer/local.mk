# tokenizer: build rules (owned by this module)
