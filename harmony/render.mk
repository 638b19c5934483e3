# harmony/: libfkharmony (convenience library; no dependency on the gateway).
# The renderer half; harmony/parse.mk adds the parser half.
noinst_LTLIBRARIES += harmony/libfkharmony.la
harmony_libfkharmony_la_SOURCES = harmony/harmony.h
harmony_libfkharmony_la_SOURCES += harmony/strbuf.h harmony/strbuf.c
harmony_libfkharmony_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
harmony_libfkharmony_la_LIBADD = $(JANSSON_LIBS)
