/* copyscope: cooperative cancellation of long library calls.
 *
 * One process-wide flag. A caller that wants to stop a long call (a SIGINT handler, another
 * thread: the Python package sets it on Ctrl-C) calls cs_cancel_request(); the library polls it
 * between units of work (feature batches) and the call then returns CS_E_INTERRUPTED with
 * "interrupted" as its message, after the batches already computed went to the feature cache,
 * and with no output file half-written. The flag stays set until cs_cancel_clear(): clear it
 * before starting a call. All three functions are async-signal-safe (a lock-free atomic). */
#ifndef COPYSCOPE_CANCEL_H
#define COPYSCOPE_CANCEL_H

#ifdef __cplusplus
extern "C" {
#endif

void cs_cancel_request(void);
void cs_cancel_clear(void);
int cs_cancel_requested(void); /* 1 when requested and not cleared since */

#ifdef __cplusplus
}
#endif
#endif
