# drivers/: the plugin ABI (driver.h, installed, see Makefile.am) and what
# every driver that tokenizes shares: the reader of the ABI's prompt segments.
noinst_LTLIBRARIES += drivers/libfkprompt.la
# (link tokenizer/libfktok.la beside it)
drivers_libfkprompt_la_SOURCES = drivers/prompt.h drivers/prompt.c
