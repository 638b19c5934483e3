# drivers/cuda: build rules (owned by this module)
