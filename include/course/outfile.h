/* outfile.h — files a program writes (traces, .dat data), all or nothing: a file is either complete or not there.
 *
 *   outfile *o = outfile_open("plots/out/data/lesson05_seqlen.dat");   // mkdir -p plots/out/data, a temporary name
 *   fprintf(outfile_stream(o), "# N d ...\n");
 *   outfile_commit(o);   // flush, check every write, close, rename onto the name
 *
 * The bytes go to a hidden temporary file beside the target (".lesson05_seqlen.dat.XXXXXX"), renamed onto it only
 * when every write, the flush and the close succeeded, so a full disk never leaves a truncated file behind and never
 * spoils the good file an earlier run left there. A target that exists and is not a regular file (/dev/null,
 * /dev/full, a FIFO) is written in place. Any failure prints one line on stderr, removes every temporary file not
 * yet committed, and exits with FL_EXIT_IO (3, "output lost"); so does a program that exits (fl_fatal, say) while a
 * file is still open: its temporary file is removed at exit.
 */
#ifndef FLASHLAB_OUTFILE_H
#define FLASHLAB_OUTFILE_H

#include <stdio.h>

typedef struct outfile outfile;

outfile *outfile_open(const char *path);       /* creates the parent directories; exits 3 when it cannot */
FILE *outfile_stream(const outfile *o);        /* write with stdio; errors are caught by commit */
const char *outfile_path(const outfile *o);
void outfile_commit(outfile *o);               /* the file is complete at path, or the program has exited 3 */
void outfile_abort(outfile *o);                /* drop it: the temporary file is removed, path keeps what it had */

/* Check, before a long run, that path will be writable: its directories are made and a temporary file beside it is
 * created and removed (path itself untouched). A device or FIFO is left alone: opening one can block or be seen. */
void outfile_probe(const char *path);

/* mkdir -p dir (0777 less the umask); exits 3 naming the part that could not be created or is not a directory. */
void outfile_mkdirs(const char *dir);

/* Lost output: one line "prog: error: <message>" on stderr, every uncommitted temporary file removed, exit 3. */
_Noreturn void outfile_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The end of a program's output: flush stdout and exit 3 with one line if any write to it failed (a full disk,
 * /dev/full, a closed pipe when SIGPIPE is ignored). Returns when everything printed arrived. */
void outfile_check_stdout(void);

#endif
