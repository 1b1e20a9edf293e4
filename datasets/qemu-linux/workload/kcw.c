// SPDX-License-Identifier: GPL-2.0-only
/*
 * kcw: the guest workload of kcarve's real Linux images (static, runs as pid 1).
 *
 *   kcw init            pid 1 (exec'd by /init): loads the truth module, starts the
 *                       long-lived processes, runs the short-lived ones and reaps them,
 *                       waits for the freed task_structs to be released, hides the chosen
 *                       processes, asks the module for the truth dump, then sleeps forever.
 *   kcw proc IDX FD     a long-lived process: names itself, starts its named threads and
 *                       its child processes, reports "IDX PID" on the ready pipe FD, sleeps.
 *   kcw exit IDX        a short-lived process: names itself, starts its threads and its
 *                       short-lived children, reaps the children, then exits.
 *
 * CONF (written by the host, src/datasets/linux/guest-config.ts), one record a line:
 *   module PATH
 *   proc IDX PARENT NAME          PARENT = -1 (child of init) or the IDX of a proc
 *   exited IDX PARENT NAME MODE   MODE = join (threads end first) | group (exit_group
 *                                 while threads run); PARENT = -1 or an exited IDX
 *   thread KIND IDX NAME          KIND = proc | exited: a thread of that process
 *   hide IDX STYLE                STYLE = self | stale | poison
 *   settle_ms N                   wait after the last reap (RCU frees task_structs)
 *
 * Ordering rule from the kernel's behaviour: after the short-lived processes are reaped
 * nothing forks again (a new task would reuse a freed task_struct and destroy its
 * residue), and nothing hidden ever exits (an unlinked task that exits trips
 * CONFIG_DEBUG_LIST and panics the kernel for the stale and poison styles).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXP 256
#define MAXT 1024
#define CONF_PATH "/etc/kcarve.conf"

struct proc { int used, parent; char name[16]; char mode[8]; char hide[8]; pid_t pid; };
struct thr { int exited, idx; char name[16]; };

static char module_path[256];
static struct proc procs[MAXP], exits[MAXP];
static struct thr thrs[MAXT];
static int nthr, settle_ms = 500;

static void logk(const char *fmt, ...)
{
	char buf[512];
	int n, fd;
	va_list ap;

	n = snprintf(buf, sizeof(buf), "kcw[%d]: ", (int)getpid());
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(buf) - 1)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	fd = open("/dev/kmsg", O_WRONLY);
	if (fd >= 0) {
		(void)!write(fd, buf, n);
		close(fd);
	}
	(void)!write(2, buf, n);
}

static void die(const char *fmt, ...)
{
	char buf[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	logk("fatal: %s (errno %d: %s)", buf, errno, strerror(errno));
	/* pid 1 exiting panics the kernel; the host sees the message and the panic. */
	_exit(1);
}

static void set_name(const char *name)
{
	if (prctl(PR_SET_NAME, name, 0, 0, 0) != 0)
		die("prctl(PR_SET_NAME, %s)", name);
}

static int parse_idx(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == 0 || *end != 0 || v < -1 || v >= MAXP)
		die("bad index '%s' in " CONF_PATH, s);
	return (int)v;
}

/* Names longer than the kernel's comm (15 bytes + NUL) would be cut: refuse them. */
static void copy_field(char *dst, size_t size, const char *src)
{
	if (strlen(src) >= size)
		die("'%s' in " CONF_PATH " is longer than %zu bytes", src, size - 1);
	memcpy(dst, src, strlen(src) + 1);
}

static void read_conf(void)
{
	char line[256], a[32], b[32], c[32], d[32], e[32];
	FILE *f = fopen(CONF_PATH, "r");
	int lineno = 0;

	if (!f)
		die("open " CONF_PATH);
	while (fgets(line, sizeof(line), f)) {
		int n = sscanf(line, "%31s %31s %31s %31s %31s", a, b, c, d, e);

		lineno++;
		if (n <= 0 || a[0] == '#')
			continue;
		if (strcmp(a, "module") == 0 && n == 2) {
			copy_field(module_path, sizeof(module_path), b);
		} else if (strcmp(a, "proc") == 0 && n == 4) {
			struct proc *p = &procs[parse_idx(b)];
			p->used = 1; p->parent = parse_idx(c);
			copy_field(p->name, sizeof(p->name), d);
		} else if (strcmp(a, "exited") == 0 && n == 5) {
			struct proc *p = &exits[parse_idx(b)];
			p->used = 1; p->parent = parse_idx(c);
			copy_field(p->name, sizeof(p->name), d);
			copy_field(p->mode, sizeof(p->mode), e);
		} else if (strcmp(a, "thread") == 0 && n == 4 && nthr < MAXT) {
			thrs[nthr].exited = strcmp(b, "exited") == 0;
			thrs[nthr].idx = parse_idx(c);
			copy_field(thrs[nthr].name, sizeof(thrs[nthr].name), d);
			nthr++;
		} else if (strcmp(a, "hide") == 0 && n == 3) {
			copy_field(procs[parse_idx(b)].hide, sizeof(procs[0].hide), c);
		} else if (strcmp(a, "settle_ms") == 0 && n == 2) {
			settle_ms = atoi(b);
		} else {
			die(CONF_PATH ":%d: unknown record '%s'", lineno, a);
		}
	}
	fclose(f);
}

static pid_t spawn(const char *role, int idx, int fd)
{
	char sidx[16], sfd[16];
	pid_t pid;

	snprintf(sidx, sizeof(sidx), "%d", idx);
	snprintf(sfd, sizeof(sfd), "%d", fd);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		char *argv[] = { "kcw", (char *)role, sidx, sfd, NULL };
		execv("/bin/kcw", argv);
		die("execv /bin/kcw");
	}
	return pid;
}

/* Threads: each names itself, then meets the main thread at a barrier. */
static pthread_barrier_t barrier;
static volatile int threads_return;

static void *thread_main(void *arg)
{
	set_name((const char *)arg);
	pthread_barrier_wait(&barrier);
	if (threads_return)
		return NULL;
	for (;;)
		pause();
}

static int start_threads(int exited, int idx, pthread_t *ids)
{
	int i, n = 0;

	for (i = 0; i < nthr; i++)
		if (thrs[i].exited == exited && thrs[i].idx == idx)
			n++;
	pthread_barrier_init(&barrier, NULL, n + 1);
	n = 0;
	for (i = 0; i < nthr; i++)
		if (thrs[i].exited == exited && thrs[i].idx == idx)
			if (pthread_create(&ids[n++], NULL, thread_main, thrs[i].name) != 0)
				die("pthread_create");
	pthread_barrier_wait(&barrier);
	return n;
}

static void role_proc(int idx, int ready_fd)
{
	pthread_t ids[MAXT];
	char msg[64];
	int i, n;

	set_name(procs[idx].name);
	start_threads(0, idx, ids);
	for (i = 0; i < MAXP; i++)
		if (procs[i].used && procs[i].parent == idx)
			spawn("proc", i, ready_fd);
	n = snprintf(msg, sizeof(msg), "%d %d\n", idx, (int)getpid());
	if (write(ready_fd, msg, n) != n)
		die("write ready pipe");
	for (;;)
		pause();
}

static void reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid %d", (int)pid);
}

static void role_exit(int idx)
{
	pthread_t ids[MAXT];
	pid_t kids[MAXP];
	int i, n, nk = 0;

	set_name(exits[idx].name);
	threads_return = strcmp(exits[idx].mode, "join") == 0;
	n = start_threads(1, idx, ids);
	for (i = 0; i < MAXP; i++)
		if (exits[i].used && exits[i].parent == idx)
			kids[nk++] = spawn("exit", i, -1);
	for (i = 0; i < nk; i++)
		reap(kids[i]);
	if (threads_return)
		for (i = 0; i < n; i++)
			pthread_join(ids[i], NULL);
	exit(0); /* exit_group: in "group" mode this ends the sleeping threads too */
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void write_cmd(int fd, const char *cmd)
{
	if (write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd))
		die("module command '%s'", cmd);
}

static void role_init(void)
{
	int pipefd[2], i, want = 0, got = 0, fd;
	pid_t kids[MAXP];
	int nk = 0;
	char buf[4096], cmd[64];
	size_t have = 0;

	set_name("kcarve-init");
	mkdir("/proc", 0555);
	mkdir("/dev", 0755);
	if (mount("proc", "/proc", "proc", 0, NULL) != 0)
		die("mount /proc");
	if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) != 0 && errno != EBUSY)
		die("mount /dev");
	/* Module output must reach the serial console: raise the console log level. */
	fd = open("/proc/sys/kernel/printk", O_WRONLY);
	if (fd < 0 || write(fd, "7", 1) != 1)
		die("raise console log level");
	close(fd);

	/* Before any fork: the module records every exit from here on. */
	fd = open(module_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open %s", module_path);
	if (syscall(SYS_finit_module, fd, "", 0) != 0)
		die("finit_module %s", module_path);
	close(fd);

	if (pipe(pipefd) != 0)
		die("pipe");
	/* Only the write end goes to the children. */
	fcntl(pipefd[0], F_SETFD, FD_CLOEXEC);
	for (i = 0; i < MAXP; i++) {
		if (!procs[i].used)
			continue;
		want++;
		if (procs[i].parent == -1)
			spawn("proc", i, pipefd[1]);
	}
	close(pipefd[1]);
	while (got < want) {
		ssize_t r = read(pipefd[0], buf + have, sizeof(buf) - 1 - have);
		char *line, *nl;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("ready pipe closed after %d of %d processes", got, want);
		have += r;
		buf[have] = 0;
		line = buf;
		while ((nl = strchr(line, '\n'))) {
			int idx, pid;

			*nl = 0;
			if (sscanf(line, "%d %d", &idx, &pid) != 2 || idx < 0 || idx >= MAXP)
				die("bad ready line '%s'", line);
			procs[idx].pid = pid;
			got++;
			line = nl + 1;
		}
		have -= line - buf;
		memmove(buf, line, have);
	}
	logk("%d long-lived processes ready", got);

	for (i = 0; i < MAXP; i++)
		if (exits[i].used && exits[i].parent == -1)
			kids[nk++] = spawn("exit", i, -1);
	for (i = 0; i < nk; i++)
		reap(kids[i]);
	/* No fork from here on. The freed task_structs go back to the slab after an RCU
	 * grace period (delayed_put_task_struct); wait for that. */
	sleep_ms(settle_ms);
	logk("%d short-lived process trees reaped", nk);

	fd = open("/proc/kcarve_truth", O_WRONLY);
	if (fd < 0)
		die("open /proc/kcarve_truth");
	for (i = 0; i < MAXP; i++) {
		if (!procs[i].used || !procs[i].hide[0])
			continue;
		snprintf(cmd, sizeof(cmd), "hide %d %s\n", (int)procs[i].pid, procs[i].hide);
		write_cmd(fd, cmd);
	}
	write_cmd(fd, "dump\n");
	close(fd);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die("usage: kcw init | proc IDX FD | exit IDX");
	read_conf();
	if (strcmp(argv[1], "init") == 0)
		role_init();
	else if (strcmp(argv[1], "proc") == 0 && argc >= 4)
		role_proc(parse_idx(argv[2]), atoi(argv[3]));
	else if (strcmp(argv[1], "exit") == 0 && argc >= 3)
		role_exit(parse_idx(argv[2]));
	else
		die("unknown role '%s'", argv[1]);
	return 0;
}
