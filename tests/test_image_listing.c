/* Print the files copyscope lists for DIR under a peer's rule, one per line (stdout), or the
 * error on stderr with exit 2. tests/image_listing_ref.py compares them with the peers' code.
 *
 *   test_image_listing pytorch-fid|clean-fid|torch-fidelity DIR */
#include "copyscope/features.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s RULE DIR\n", argv[0]);
        return 2;
    }
    cs_image_listing rule;
    if (!strcmp(argv[1], "pytorch-fid")) rule = CS_LISTING_PYTORCH_FID;
    else if (!strcmp(argv[1], "clean-fid")) rule = CS_LISTING_CLEAN_FID;
    else if (!strcmp(argv[1], "torch-fidelity")) rule = CS_LISTING_TORCH_FIDELITY;
    else return 2;
    if (strcmp(cs_image_listing_name(rule), argv[1])) return 1;
    cs_pathlist pl;
    const char *in = argv[2];
    cs_status st = cs_pathlist_expand_listing(&in, 1, rule, &pl);
    if (st != CS_OK) {
        fprintf(stderr, "%s\n", cs_last_error());
        return 2;
    }
    for (size_t i = 0; i < pl.n; i++) printf("%s\n", pl.paths[i]);
    cs_pathlist_free(&pl);
    return 0;
}
