# drivers/llamacpp-proxy: build rules (owned by this module)
