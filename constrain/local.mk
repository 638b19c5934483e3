# constrain/: libfkconstrain, tool-call constraints both cores share: JSON
# Schema compiled to one graph (schema.h), the byte automaton the native
# engine masks tokens with (pda.h), the GBNF grammar llama-server gets
# (gbnf.h), a request's tools and the Harmony call-header rule (tools.h).
noinst_LTLIBRARIES += constrain/libfkconstrain.la
constrain_libfkconstrain_la_SOURCES = \
	constrain/schema.h constrain/schema_build.h constrain/schema.c constrain/schema_norm.c \
	constrain/pda.h constrain/pda.c \
	constrain/tools.h constrain/tools.c
constrain_libfkconstrain_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
constrain_libfkconstrain_la_LIBADD = $(JANSSON_LIBS)
EXTRA_DIST += constrain/README.md

check_PROGRAMS += tests/unit/test_constrain
TESTS += tests/unit/test_constrain
tests_unit_test_constrain_SOURCES = tests/unit/test_constrain.c tests/unit/ref_validator.h
tests_unit_test_constrain_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_constrain_LDADD = constrain/libfkconstrain.la $(JANSSON_LIBS)
