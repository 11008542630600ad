// Package rotate is thorp's log writer: one File per log path, fed by the
// pipes of components (Copy) and by thorp's own slog handler (Write).
//
// Each File owns one lumberjack.Logger (a new one when retention changes)
// and closes it in Close. lumberjack opens and writes the file and prunes
// backups by age and count; this package decides when to rotate (exactly
// at max_size on a line boundary, at local midnight, at the top of the
// hour or after a duration), renames the file to lumberjack's timestamped
// backup name itself (see renameAndReopen) and gzips backups itself (see
// compressor).
//
// Concurrency model:
//
//   - A File is safe for concurrent use. Every write to it is a run of whole
//     lines done under the File's mutex, so two streams merged into one file
//     never interleave inside a line and a rotation never splits a line.
//   - Copy runs in the caller's goroutine and owns its read buffer, its
//     pending partial line and (when Overflow is "drop") one writer goroutine
//     and a fixed pool of buffers; both end before Copy returns. A timer
//     writes a partial line, marked as cut, after PartialLineWait without
//     more input. Memory per Copy is bounded by fixed buffers whatever the
//     child writes.
//   - In "block" mode (the default) Copy writes synchronously, so a slow
//     disk slows the child through its pipe and nothing is dropped.
//   - Each File has one timer for time-based rotation; Tick does the check
//     and can be called directly with an injected Clock.
//   - Write failures (ENOSPC, EROFS, EACCES, a removed directory) never block
//     or fail the caller for long: the bytes are counted as dropped, Warn is
//     called at most once a minute, and the file is reopened (directory
//     recreated) on a later write, at most once a second.
package rotate
