// SPDX-License-Identifier: GPL-2.0-only
/*
 * kfz: the guest side of kcarve's fuzzing campaigns (src/fuzz/), static, runs as pid 1.
 *
 * At boot it loads the truth module, starts a watchdog and a target process, asks the
 * module where their task_structs are, prints "kfz: ready" and then obeys one command a
 * line read from the serial console (its stdin). The host snapshots the guest while it
 * waits for a command, restores that snapshot before every trial, corrupts one member of
 * the target's task_struct through QEMU's gdbstub, and drives the trial:
 *
 *   go          the target runs one round of work: sleeps and wakes, forks a child that
 *               reads /proc/self/stat and exits 7, reads its own /proc/self/{stat,status,
 *               maps}, then waits for SIGUSR1, which init sends after reading
 *               /proc/<target>/{stat,status,maps} from outside. Init prints
 *               "kfz: work done" (or "kfz: work failed step=S" / "kfz: target gone").
 *   exit        the target exits with status 42; init reaps it and prints
 *               "kfz: trial end status=0x<raw wait status>" (0x2a00 = exit 42).
 *   run         the target loops forever (sleep, /proc reads, a signal to itself, no
 *               fork), printing "kfz: round N" after each round: a live process for the
 *               evasion test; init prints "kfz: running".
 *   hide STYLE  unlink the target from the task list through the module (DKOM).
 *   dump        the module prints the ground truth (ends with "kcarve: truth done")
 *               while every kfz process keeps quiet; then "kfz: dumped".
 *
 * The watchdog prints "kfz: hb N" every 200 ms; when the heartbeats stop, the system hung.
 * Every line init prints starts with "kfz: " (src/fuzz/classify.ts parses them).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MODULE_PATH "/lib/kcarve_truth.ko"
#define HEARTBEAT_MS 200

/*
 * Shared by init, the watchdog and the target (mapped before they fork): while set, they
 * print nothing, so that the module's truth dump reaches the console in whole lines
 * (writes to the console from user space and printk interleave mid-line).
 */
static volatile int *quiet;

static void say(const char *fmt, ...)
{
	char buf[256];
	int n;
	va_list ap;

	if (quiet && *quiet)
		return;
	memcpy(buf, "kfz: ", 5);
	va_start(ap, fmt);
	n = 5 + vsnprintf(buf + 5, sizeof(buf) - 6, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	/* One write per line: lines of init and the watchdog do not interleave. */
	(void)!write(1, buf, n);
}

static void die(const char *what)
{
	say("fatal: %s (errno %d: %s)", what, errno, strerror(errno));
	_exit(1); /* pid 1 exiting panics the kernel: the host sees it */
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void set_name(const char *name)
{
	prctl(PR_SET_NAME, name, 0, 0, 0);
}

/* Bytes read from a /proc file, or -1. */
static long slurp(const char *path)
{
	char buf[4096];
	long total = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		total += r;
	close(fd);
	return r < 0 ? -1 : total;
}

static int proc_files(pid_t pid)
{
	static const char *const names[] = { "stat", "status", "maps" };
	char path[64];
	unsigned i;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, names[i]);
		if (slurp(path) <= 0)
			return -1;
	}
	return 0;
}

static void module_cmd(const char *fmt, ...)
{
	char cmd[64];
	int fd, n;
	va_list ap;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fd = open("/proc/kcarve_truth", O_WRONLY);
	if (fd < 0 || write(fd, cmd, n) != n)
		say("module command failed: %s (errno %d)", cmd, errno);
	if (fd >= 0)
		close(fd);
}

static void watchdog(void)
{
	unsigned long n = 0;

	set_name("kfz-watchdog");
	for (;;) {
		sleep_ms(HEARTBEAT_MS);
		say("hb %lu", ++n);
	}
}

static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static void report(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		_exit(4);
}

/* One round of work; 0 on success, else the failed step. */
static char work(int done_fd, int with_fork, int self_signal)
{
	sigset_t empty;
	pid_t child;
	int status, i;

	for (i = 0; i < 3; i++) {
		sleep_ms(5); /* sleep and wake: timers, the scheduler, the wait queues */
		sched_yield();
	}
	if (with_fork) {
		child = fork();
		if (child < 0)
			return 'f';
		if (child == 0)
			_exit(slurp("/proc/self/stat") > 0 ? 7 : 8);
		while (waitpid(child, &status, 0) < 0)
			if (errno != EINTR)
				return 'w';
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 7)
			return 'c';
	}
	if (proc_files(getpid()) != 0)
		return 'p';
	sigemptyset(&empty);
	got_usr1 = 0;
	if (self_signal)
		kill(getpid(), SIGUSR1);
	else
		report(done_fd, 'r'); /* init reads our /proc files, then signals us */
	while (!got_usr1)
		sigsuspend(&empty); /* SIGUSR1 is blocked outside of this wait */
	return 0;
}

static void target(int go_fd, int done_fd)
{
	struct sigaction sa;
	sigset_t block;
	char c, step;

	set_name("kfz-target");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, NULL);
	for (;;) {
		ssize_t r = read(go_fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(3);
		if (c == 'x')
			_exit(42);
		if (c == 'l') {
			unsigned long round = 0;

			for (;;) {
				if (work(done_fd, 0, 1) != 0)
					_exit(5);
				say("round %lu", ++round);
				sleep_ms(300);
			}
		}
		step = work(done_fd, 1, 0);
		report(done_fd, step ? step : 'd');
	}
}

static void reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			say("trial end status=none (errno %d)", errno);
			return;
		}
	say("trial end status=0x%x", status);
}

/* Phase 1 of a trial, seen from init. */
static void trial_go(pid_t tpid, int go_w, int done_r)
{
	char c;

	if (write(go_w, "g", 1) != 1) {
		say("target gone");
		reap(tpid);
		return;
	}
	for (;;) {
		ssize_t r = read(done_r, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			say("target gone");
			reap(tpid);
			return;
		}
		if (c == 'r') {
			if (proc_files(tpid) != 0)
				say("work failed step=external-proc");
			kill(tpid, SIGUSR1);
		} else if (c == 'd') {
			say("work done");
			return;
		} else {
			say("work failed step=%c", c);
			return;
		}
	}
}

int main(int argc, char **argv)
{
	int go[2], done[2], fd;
	pid_t wpid, tpid;
	char line[128], arg[32];

	(void)argc;
	(void)argv;
	set_name("kcarve-init");
	quiet = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (quiet == MAP_FAILED)
		die("mmap");
	mkdir("/proc", 0555);
	mkdir("/dev", 0755);
	if (mount("proc", "/proc", "proc", 0, NULL) != 0)
		die("mount /proc");
	if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) != 0 && errno != EBUSY)
		die("mount /dev");
	fd = open("/proc/sys/kernel/printk", O_WRONLY);
	if (fd < 0 || write(fd, "7", 1) != 1)
		die("raise console log level");
	close(fd);
	fd = open(MODULE_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || syscall(SYS_finit_module, fd, "", 0) != 0)
		die("load " MODULE_PATH);
	close(fd);

	wpid = fork();
	if (wpid < 0)
		die("fork watchdog");
	if (wpid == 0)
		watchdog();
	if (pipe2(go, O_CLOEXEC) != 0 || pipe2(done, O_CLOEXEC) != 0)
		die("pipe");
	tpid = fork();
	if (tpid < 0)
		die("fork target");
	if (tpid == 0) {
		close(go[1]);
		close(done[0]);
		target(go[0], done[1]);
	}
	close(go[0]);
	close(done[1]);

	module_cmd("where %d\n", (int)tpid);
	module_cmd("where %d\n", (int)wpid);
	module_cmd("where 1\n");
	module_cmd("where 2\n");
	module_cmd("where 0\n");
	say("ready target=%d watchdog=%d", (int)tpid, (int)wpid);

	while (fgets(line, sizeof(line), stdin)) {
		if (strncmp(line, "go", 2) == 0) {
			trial_go(tpid, go[1], done[0]);
		} else if (strncmp(line, "exit", 4) == 0) {
			if (write(go[1], "x", 1) != 1)
				say("target gone");
			reap(tpid);
		} else if (strncmp(line, "run", 3) == 0) {
			if (write(go[1], "l", 1) == 1)
				say("running");
			else
				say("target gone");
		} else if (sscanf(line, "hide %31s", arg) == 1) {
			module_cmd("hide %d %s\n", (int)tpid, arg);
			module_cmd("where %d\n", (int)tpid);
			say("hidden");
		} else if (strncmp(line, "dump", 4) == 0) {
			*quiet = 1;
			sleep_ms(300); /* lets a line being written finish */
			module_cmd("dump\n");
			*quiet = 0;
			say("dumped");
		}
	}
	die("console closed");
	return 0;
}
