# common/: header-only pieces every module shares (see common/utf8.h for why
# there is no library to link): the UTF-8 rule, the JSON type names.
EXTRA_DIST += common/json_type.h common/regular_file.h
check_PROGRAMS += tests/unit/test_utf8
TESTS += tests/unit/test_utf8
tests_unit_test_utf8_SOURCES = tests/unit/test_utf8.c common/utf8.h
