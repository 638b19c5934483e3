# Shared test support: the TAP helper for C tests.
EXTRA_DIST += tests/tap.h tests/package.json tests/package-lock.json tests/fixtures

# Tests read their fixtures from the build tree, assembled by tests/assemble-fixtures.sh
# (tokenizer.json decompressed, the bf16 tiny checkpoint derived from the
# MXFP4 one) before any test runs.
check_DATA += tests/fixtures.stamp
tests/fixtures.stamp: $(top_srcdir)/tests/assemble-fixtures.sh drivers/cuda/tools/fk-mkmodel$(EXEEXT)
	$(SHELL) $(top_srcdir)/tests/assemble-fixtures.sh '$(abs_top_srcdir)/tests/fixtures' \
		'$(abs_top_builddir)/tests/fixtures-built' '$(abs_top_builddir)/drivers/cuda/tools/fk-mkmodel'
	@touch $@
CLEANFILES += tests/fixtures.stamp
clean-local: clean-fixtures
clean-fixtures:
	rm -rf tests/fixtures-built
.PHONY: clean-fixtures
EXTRA_DIST += tests/assemble-fixtures.sh

# scripts/setup.sh with a changing PREFIX (stand-ins instead of a build).
TESTS += tests/setup_prefix.sh
EXTRA_DIST += tests/setup_prefix.sh

# Every command README.md shows, run as written (or skipped with the reason).
TESTS += tests/readme_commands.sh
EXTRA_DIST += tests/readme_commands.sh

# The one-line bugs scripts/mutate.sh applies (the mutation check, run by CI).
EXTRA_DIST += tests/mutations.list
