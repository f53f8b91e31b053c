/* Temporary files removed when a signal ends the process (internal).
 *
 * Every writer here writes "<path>.tmp..." and renames it into place (atomic publish). A run killed
 * by SIGINT, SIGTERM or SIGHUP in between would leave the temporary file behind; writers therefore
 * track it for the few moments it exists, and the handler that cs_tmp_install_signal_cleanup
 * installs (the CLI does, once) unlinks every tracked file, then lets the signal end the process as
 * it would have (default action, re-raised). SIGKILL runs no code: its leftovers are swept by the
 * next writer of the same file (io/h5util.h, cs_h5_sweep_stale). Tracking is lock-free and the
 * handler calls only unlink, so both are safe from any thread and in a signal handler. */
#ifndef CS_CORE_TMPFILE_H
#define CS_CORE_TMPFILE_H

/* Track path (copied; at most CS_TMP_PATH_MAX - 1 bytes). Returns a slot for cs_tmp_untrack, or -1
 * when the table is full or the path too long (the file is then simply not tracked). */
#define CS_TMP_SLOTS 64
#define CS_TMP_PATH_MAX 4096
int cs_tmp_track(const char *path);
/* Stop tracking (after the rename or the unlink); -1 is ignored. */
void cs_tmp_untrack(int slot);
/* Unlink every tracked file (async-signal-safe). */
void cs_tmp_unlink_all(void);
/* SIGINT, SIGTERM, SIGHUP: unlink the tracked files, then die of the signal. Idempotent. */
void cs_tmp_install_signal_cleanup(void);

#endif
