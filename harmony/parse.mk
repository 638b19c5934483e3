# harmony: build rules (owned by this module)
