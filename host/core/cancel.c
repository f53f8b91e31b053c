/* Cooperative cancellation (include/copyscope/cancel.h): one lock-free atomic flag. */
#include "copyscope/cancel.h"

#include <stdatomic.h>

static atomic_int g_cancel; /* lock-free on every platform we build for: async-signal-safe */

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "cancellation needs a lock-free atomic int");

void cs_cancel_request(void) { atomic_store(&g_cancel, 1); }
void cs_cancel_clear(void) { atomic_store(&g_cancel, 0); }
int cs_cancel_requested(void) { return atomic_load(&g_cancel) != 0; }
