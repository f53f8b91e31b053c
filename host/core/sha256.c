/* SHA-256 of files and buffers through OpenSSL's EVP interface (streaming, bounded memory). */
#include "copyscope/weights.h"

#include "core/common.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

void cs_sha256_hex(const uint8_t md[32], char hex[65]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = 0;
}

void cs_sha256_digest(const void *data, size_t len, uint8_t md[32]) {
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    /* EVP_Digest only fails on allocation failure; then report an all-zero digest */
    if (!EVP_Digest(data, len, buf, &mdlen, EVP_sha256(), NULL) || mdlen != 32) memset(buf, 0, 32);
    memcpy(md, buf, 32);
}

void cs_sha256_bytes(const void *data, size_t len, char hex[65]) {
    uint8_t md[32];
    cs_sha256_digest(data, len, md);
    cs_sha256_hex(md, hex);
}

cs_status cs_sha256_file(const char *path, char hex[65]) {
    cs_status st = CS_OK;
    unsigned char *buf = NULL; /* (1 MiB) bytes */
    EVP_MD_CTX *ctx = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return CS_FAIL(CS_E_NOTFOUND, "%s: no such file", path);
        return CS_FAIL(CS_E_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    const size_t chunk = (size_t)1 << 20;
    buf = cs_malloc(chunk, "sha256 buffer");
    if (!buf) {
        st = CS_E_NOMEM;
        goto done;
    }
    ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        st = CS_FAIL(CS_E_NOMEM, "%s: cannot create a SHA-256 context", path);
        goto done;
    }
    for (;;) {
        size_t got = fread(buf, 1, chunk, f);
        if (got && !EVP_DigestUpdate(ctx, buf, got)) {
            st = CS_FAIL(CS_E_INTERNAL, "%s: SHA-256 update failed", path);
            goto done;
        }
        if (got < chunk) break;
    }
    if (ferror(f)) {
        st = CS_FAIL(CS_E_IO, "%s: read failed: %s", path, strerror(errno));
        goto done;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 32) {
        st = CS_FAIL(CS_E_INTERNAL, "%s: SHA-256 final failed", path);
        goto done;
    }
    cs_sha256_hex(md, hex);
done:
    EVP_MD_CTX_free(ctx);
    free(buf);
    fclose(f);
    return st;
}
