# gateway: build rules (owned by this module)
