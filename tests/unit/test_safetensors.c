/* test_safetensors.c: the safetensors validator on good and broken images,
 * fk_st_open on fixture shards and damaged files, and the streaming writer. */
#include "drivers/cuda/checkpoint/checkpoint.h"
#include "drivers/cuda/checkpoint/st_writer.h"
#include "tests/tap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/fk-test-st-XXXXXX";

/* An image: 8-byte length of `header` (unpadded), the header, data_len zero
 * bytes. Returns a malloc'd buffer of *len bytes. */
static uint8_t *image(const char *header, size_t data_len, size_t *len)
{
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    uint8_t *b = calloc(1, *len);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    return b;
}

/* Validate an image; returns the error text (static) or "" when valid. */
static const char *check(const char *header, size_t data_len)
{
    static char err[1024];
    size_t len;
    uint8_t *b = image(header, data_len, &len);
    err[0] = '\0';
    int rc = fk_st_validate_buffer(b, len, err, sizeof err);
    free(b);
    if (rc == 0) return "";
    return err[0] ? err : "(rejected without a message)";
}

static void expect_error(const char *header, size_t data_len, const char *substr, const char *what)
{
    const char *e = check(header, data_len);
    if (!ok(strstr(e, substr) != NULL, "%s: error mentions \"%s\"", what, substr))
        diag("got: %s", e);
}

static void test_valid_images(void)
{
    is_str(check("{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
                 "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[12,16]}}",
                 16),
           "", "two tensors validate");
    is_str(check("{\"__metadata__\":{\"format\":\"pt\"}}", 0), "", "metadata only validates");
    is_str(check("{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]},"
                 "\"z\":{\"dtype\":\"I64\",\"shape\":[0,7],\"data_offsets\":[8,8]}}",
                 8),
           "", "scalar and empty tensors validate");
    is_str(check("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}   ", 4), "",
           "trailing spaces (padding) in the header are fine");
}

static void test_broken_images(void)
{
    char err[512] = "";
    uint8_t tiny[5] = {0};
    ok(fk_st_validate_buffer(tiny, sizeof tiny, err, sizeof err) == -1 &&
           strstr(err, "too short for the 8-byte header length"),
       "5-byte file rejected");
    uint8_t past[16] = {0xff, 0x10};
    ok(fk_st_validate_buffer(past, sizeof past, err, sizeof err) == -1 &&
           strstr(err, "header length 4351 runs past the end of the file"),
       "header length past the end rejected");
    expect_error("{\"a\":{\"dtype\":\"BF16\",", 0, "header is not valid JSON", "cut JSON");
    expect_error("[1,2]", 0, "header is an array, expected an object", "array header");
    expect_error("{\"a\":{\"dtype\":\"F8_E9\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                 "a: unknown dtype \"F8_E9\"", "unknown dtype");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
                 "a: F32 [3] needs 12 bytes but data_offsets [0,8] hold 8", "numel/size mismatch");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[4,12]}}",
                 12, "tensors a [0,8] and b [4,12] overlap", "overlapping tensors");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}", 6,
                 "a: data_offsets [0,8] outside the data section of 6 bytes", "truncated data");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[8,0]}}", 8,
                 "outside the data section", "begin after end");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0,
                 "a: shape[0] is not a non-negative integer", "negative dimension");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],"
                 "\"data_offsets\":[0,0]}}",
                 0, "overflows", "numel overflow");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                 "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                 2, "duplicate", "duplicate names");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, "a: \"data_offsets\" is missing",
                 "missing data_offsets");
    expect_error("{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                 "a: \"dtype\" is missing, expected a string", "missing dtype");
    expect_error("{\"a\":[1]}", 0, "a: entry is an array, expected an object", "entry array");
    expect_error("{\"__metadata__\":{\"n\":1}}", 0, "__metadata__ key \"n\" is an integer",
                 "non-string metadata");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}",
                 1, "9 dimensions", "too many dimensions");
}

/* Write bytes to tmpdir/name; returns the path (static). */
static const char *write_file(const char *name, const void *data, size_t len)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, len, f);
    fclose(f);
    return path;
}

static void test_writer_and_open(void)
{
    char path[512], err[1024] = "";
    snprintf(path, sizeof path, "%s/w.safetensors", tmpdir);
    fk_st_writer *w = fk_st_writer_open(path, err, sizeof err);
    require(w != NULL, "the writer opens a file in the temporary folder: %s", err);
    fk_st_writer_add(w, "odd", FK_DT_U8, 1, (int64_t[]){3});
    fk_st_writer_add(w, "w", FK_DT_BF16, 2, (int64_t[]){2, 2});
    const uint8_t odd[3] = {1, 2, 3};
    const uint16_t wv[4] = {0x3f80, 0x4000, 0xbf80, 0};
    fk_st_writer_write(w, odd, 3);
    fk_st_writer_write(w, wv, 4); /* data may arrive in any chunking */
    fk_st_writer_write(w, (const uint8_t *)wv + 4, 4);
    is_int(fk_st_writer_close(w, err, sizeof err), 0, "writer closes");
    fk_st_file *f = fk_st_open(path, err, sizeof err);
    if (!ok(f != NULL, "written file opens")) {
        diag("%s", err);
        return;
    }
    is_int((long long)fk_st_count(f), 2, "two tensors");
    const fk_tensor *t = fk_st_find(f, "w");
    ok(t && t->dtype == FK_DT_BF16 && t->ndim == 2 && t->shape[0] == 2 && t->nbytes == 8,
       "w is BF16 [2,2]");
    ok(t && memcmp(t->data, wv, 8) == 0, "w data round-trips");
    const fk_tensor *o = fk_st_find(f, "odd");
    ok(o && memcmp(o->data, odd, 3) == 0, "odd data round-trips");
    ok(fk_st_find(f, "nope") == NULL, "unknown name not found");
    is_str(fk_st_tensor(f, 0)->name, "odd", "tensors listed in name order");
    const void *base;
    size_t len;
    fk_st_mapping(f, &base, &len);
    ok(((const uint8_t *)o->data - (const uint8_t *)base) % 8 == 0, "header padded to 8 bytes");
    fk_st_close(f);

    w = fk_st_writer_open(path, err, sizeof err);
    fk_st_writer_add(w, "a", FK_DT_F32, 1, (int64_t[]){4});
    fk_st_writer_write(w, wv, 8);
    ok(fk_st_writer_close(w, err, sizeof err) == -1 && strstr(err, "8 of 16 data bytes written"),
       "writer refuses a short tensor");
}

static void test_open_damaged(void)
{
    char err[1024] = "";
    ok(fk_st_open("/nonexistent/x.safetensors", err, sizeof err) == NULL &&
           strstr(err, "/nonexistent/x.safetensors: cannot open"),
       "missing file named in the error");
    size_t len;
    uint8_t *b =
        image("{\"t\":{\"dtype\":\"I32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, &len);
    const char *p = write_file("trunc.safetensors", b, len - 5);
    ok(fk_st_open(p, err, sizeof err) == NULL &&
           strstr(err, "trunc.safetensors: t: data_offsets") &&
           strstr(err, "outside the data section of 11 bytes"),
       "truncated shard: error names file and tensor");
    diag("%s", err);
    p = write_file("empty.safetensors", b, 0);
    ok(fk_st_open(p, err, sizeof err) == NULL && strstr(err, "empty.safetensors: file is 0 bytes"),
       "empty file rejected");
    free(b);
}

static void test_fixture_shard(void)
{
    const char *fx = getenv("FK_FIXTURES");
    char path[4096], err[1024] = "";
    snprintf(path, sizeof path, "%s/models/tiny-gptoss-bf16/model-00002-of-00002.safetensors",
             fx ? fx : "tests/fixtures");
    fk_st_file *f = fk_st_open(path, err, sizeof err);
    if (!ok(f != NULL, "fixture shard opens")) {
        diag("%s", err);
        return;
    }
    require(fk_st_count(f) > 0, "the fixture shard has tensors");
    const void *base;
    size_t len;
    fk_st_mapping(f, &base, &len);
    int inside = 1;
    for (size_t i = 0; i < fk_st_count(f); i++) {
        const fk_tensor *t = fk_st_tensor(f, i);
        inside &= (const uint8_t *)t->data >= (const uint8_t *)base &&
                  (const uint8_t *)t->data + t->nbytes <= (const uint8_t *)base + len;
    }
    ok(inside, "every tensor lies inside the mapping");
    fk_st_close(f);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) return 1;
    test_valid_images();
    test_broken_images();
    test_writer_and_open();
    test_open_damaged();
    test_fixture_shard();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) diag("could not remove %s", tmpdir);
    return done_testing();
}
