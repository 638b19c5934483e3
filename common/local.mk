# common/: header-only pieces every module shares, with no dependencies of
# their own (see common/utf8.h for why there is no library to link).
check_PROGRAMS += tests/unit/test_utf8
TESTS += tests/unit/test_utf8
tests_unit_test_utf8_SOURCES = tests/unit/test_utf8.c common/utf8.h
