/* Runs a piece of a test in a child process, for what must stop the process (an abort with a
   message, a sanitizer's report) without stopping the test. Include after <cmocka.h>. */
#ifndef CATMEM_TEST_CHILD_H
#define CATMEM_TEST_CHILD_H

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    int exited;     /* exited normally */
    int status;     /* exit status or signal */
    char err[8192]; /* what it printed on stderr */
} outcome;

/* Runs fn in a child process and collects how it ended and what it said. */
static outcome run_child(void (*fn)(void)) {
    outcome o;
    int fds[2], st = 0;
    ssize_t got, n = 0;
    pid_t pid;
    memset(&o, 0, sizeof o);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    while ((got = read(fds[0], o.err + n, sizeof o.err - 1 - (size_t)n)) > 0) n += got;
    close(fds[0]);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    o.exited = WIFEXITED(st);
    o.status = o.exited ? WEXITSTATUS(st) : WTERMSIG(st);
    return o;
}

#endif
