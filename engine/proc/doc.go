// Package proc reads Linux /proc to find each component's process tree and to
// measure its memory and CPU cheaply.
//
// # Concurrency model
//
// The engine runs one sampler goroutine for all components. Each tick it calls
// [Scan] once, which builds an immutable [Table] of every process with one
// open+read+close of /proc/PID/stat per process, then, per component, calls
// [Table.Tree] and [Table.Usage] (pure lookups in the table; only PSS
// measurement reads more files). When the trees to sample are small next to
// the whole system, the sampler calls [Walk] per tree instead: it reads only
// that tree's stat and children files into a Table of its own, which the same
// lookups read. A Table is never modified after Scan or Walk returns, so it
// may be shared by any number of goroutines. [CPUCounter] carries state
// between samples and is not safe for concurrent use: keep one per component
// in the sampler goroutine.
//
// # Robustness
//
// Processes come and go while /proc is read. A process that vanishes between
// the directory listing and the read of its stat file, or whose stat file
// cannot be read or parsed, is left out of the Table; it is never an error.
// Processes are identified across samples by [Ident] (pid plus start time),
// so a pid reused by an unrelated process is never mistaken for the old one.
// Nothing here decides that a component died: that is the job of the code that
// waits on the main process. A sample can only under-count, never crash.
//
// Parsers take an [io.Reader] so tests run them on copies of /proc files in
// testdata/.
package proc
