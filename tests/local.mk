# Shared test support: the TAP helper for C tests.
EXTRA_DIST += tests/tap.h tests/package.json tests/package-lock.json tests/fixtures
