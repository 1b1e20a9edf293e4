// SPDX-License-Identifier: GPL-2.0-only
/*
 * kcarve_truth: ground truth for kcarve's real Linux training images.
 *
 * Loaded by the guest's init (datasets/qemu-linux/workload/kcw.c) before any workload
 * process exists. It
 *   - records every task that exits from then on (tracepoint sched_process_exit), with
 *     its task_struct address while it is still alive;
 *   - on "hide PID STYLE" written to /proc/kcarve_truth, unlinks that process from the
 *     kernel's process list (init_task.tasks) under tasklist_lock the way DKOM rootkits
 *     do, and its threads from their group's thread lists, in one of three styles;
 *   - on "where PID", prints the task_struct address of one task (fuzzing campaigns);
 *   - on "dump", prints the ground truth for every task, the kernel address-space facts
 *     and the task_struct member offsets on the console, then "kcarve: truth done".
 *
 * Facts this relies on (Linux 6.1, the Debian bookworm kernel):
 *   - kallsyms_lookup_name is not exported since 5.7; a kprobe registered on it reports
 *     its address (kprobe.addr), a common way to call it from an out-of-tree module.
 *   - tasklist_lock, init_top_pgt and init_mm are not exported to modules.
 *   - Only thread-group leaders are on init_task.tasks (kernel/fork.c copy_process:
 *     list_add_tail_rcu(&p->tasks, &init_task.tasks) only for a leader); threads hang on
 *     signal->thread_head (thread_node) and on the leader's thread_group.
 *   - list_del() writes LIST_POISON1/2 = 0x100/0x122 + CONFIG_ILLEGAL_POINTER_VALUE
 *     (include/linux/poison.h); CONFIG_DEBUG_LIST makes a later list_del of a stale or
 *     poisoned entry BUG(), so the workload never lets a hidden task exit.
 *
 * Output format (one line per record, all numbers hex with 0x or decimal as named;
 * comm is the 16 raw bytes of task_struct.comm in hex): see
 * src/datasets/linux/serial-truth.ts, which parses it.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/proc_fs.h>
#include <linux/uaccess.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/tracepoint.h>
#include <linux/utsname.h>
#include <linux/poison.h>
#include <linux/pid.h>
#include <linux/mm_types.h>
#include <linux/stddef.h>
#include <linux/io.h>

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kcarve");
MODULE_DESCRIPTION("Ground truth and DKOM for kcarve training images");

#define PFX "kcarve: "
#define MAX_EXITS 2048
#define MAX_HIDDEN 256
#define MAX_TASKS 4096

enum style { STYLE_SELF, STYLE_STALE, STYLE_POISON };
static const char *const style_names[] = { "self", "stale", "poison" };

struct exit_rec {
	pid_t pid, tgid, ppid;
	int leader;
	unsigned long va, pa;
	char comm[TASK_COMM_LEN];
};

struct hidden_rec {
	struct task_struct *task; /* reference held (get_task_struct) */
	int leader;
	enum style style;
};

struct task_rec {
	pid_t pid, tgid, ppid;
	int leader;
	unsigned int state, exit_state, flags;
	unsigned long va, pa;
	char comm[TASK_COMM_LEN];
};

typedef unsigned long (*lookup_fn)(const char *name);
static lookup_fn lookup_name;
static rwlock_t *tasklist_lock_p;
static struct mm_struct *init_mm_p;
static unsigned long init_top_pgt_va;

static DEFINE_SPINLOCK(exit_lock);
static struct exit_rec *exits;
static int n_exits, exits_overflow;

static DEFINE_MUTEX(cmd_mutex);
static struct hidden_rec hidden[MAX_HIDDEN];
static int n_hidden;

static struct tracepoint *tp_exit;
static struct proc_dir_entry *proc_entry;

static pid_t parent_tgid(struct task_struct *t)
{
	struct task_struct *p;
	pid_t r;

	rcu_read_lock();
	p = rcu_dereference(t->real_parent);
	r = p ? p->tgid : 0;
	rcu_read_unlock();
	return r;
}

static int is_hidden(struct task_struct *t)
{
	int i;

	for (i = 0; i < n_hidden; i++)
		if (hidden[i].task == t)
			return 1;
	return 0;
}

/* sched_process_exit fires in do_exit() while pid, comm and the object are intact. */
static void on_exit_probe(void *data, struct task_struct *p)
{
	unsigned long flags;
	struct exit_rec *r;

	spin_lock_irqsave(&exit_lock, flags);
	if (n_exits >= MAX_EXITS) {
		exits_overflow++;
	} else {
		r = &exits[n_exits++];
		r->pid = p->pid;
		r->tgid = p->tgid;
		r->ppid = parent_tgid(p);
		r->leader = thread_group_leader(p);
		r->va = (unsigned long)p;
		r->pa = virt_to_phys(p);
		memcpy(r->comm, p->comm, TASK_COMM_LEN);
	}
	spin_unlock_irqrestore(&exit_lock, flags);
}

static void find_exit_tp(struct tracepoint *tp, void *priv)
{
	if (strcmp(tp->name, "sched_process_exit") == 0)
		tp_exit = tp;
}

static void unlink_entry(struct list_head *e, enum style s)
{
	switch (s) {
	case STYLE_SELF:
		list_del_init(e);
		break;
	case STYLE_STALE:
		/* Neighbours skip the entry; the entry keeps pointing at them. */
		__list_del(e->prev, e->next);
		break;
	case STYLE_POISON:
		list_del(e);
		break;
	}
}

static int hide_pid(pid_t nr, enum style s)
{
	struct task_struct *leader, *t;
	struct task_struct *threads[64];
	int n = 0, i;

	rcu_read_lock();
	leader = pid_task(find_vpid(nr), PIDTYPE_PID);
	if (leader)
		get_task_struct(leader);
	rcu_read_unlock();
	if (!leader) {
		pr_err(PFX "error hide: no task with pid %d\n", nr);
		return -ESRCH;
	}
	if (!thread_group_leader(leader) || is_hidden(leader)) {
		pr_err(PFX "error hide: pid %d is not a visible thread-group leader\n", nr);
		put_task_struct(leader);
		return -EINVAL;
	}

	write_lock_irq(tasklist_lock_p);
	for_each_thread(leader, t) {
		if (t == leader)
			continue;
		if (n == ARRAY_SIZE(threads) || n_hidden + 1 + n >= MAX_HIDDEN) {
			write_unlock_irq(tasklist_lock_p);
			pr_err(PFX "error hide: pid %d has too many threads\n", nr);
			put_task_struct(leader);
			return -E2BIG;
		}
		get_task_struct(t);
		threads[n++] = t;
	}
	unlink_entry(&leader->tasks, s);
	for (i = 0; i < n; i++) {
		unlink_entry(&threads[i]->thread_group, s);
		unlink_entry(&threads[i]->thread_node, s);
	}
	write_unlock_irq(tasklist_lock_p);

	hidden[n_hidden].task = leader;
	hidden[n_hidden].leader = 1;
	hidden[n_hidden++].style = s;
	for (i = 0; i < n; i++) {
		hidden[n_hidden].task = threads[i];
		hidden[n_hidden].leader = 0;
		hidden[n_hidden++].style = s;
	}
	return 0;
}

static void fill_rec(struct task_rec *r, struct task_struct *t)
{
	r->pid = t->pid;
	r->tgid = t->tgid;
	r->ppid = parent_tgid(t);
	r->leader = thread_group_leader(t);
	r->state = READ_ONCE(t->__state);
	r->exit_state = READ_ONCE(t->exit_state);
	r->flags = READ_ONCE(t->flags);
	r->va = (unsigned long)t;
	r->pa = virt_to_phys(t);
	memcpy(r->comm, t->comm, TASK_COMM_LEN);
}

static void print_task(const char *status, const struct task_rec *r, int on_list, const char *extra)
{
	pr_info(PFX "task status=%s pid=%d tgid=%d ppid=%d leader=%d on_list=%d va=0x%lx pa=0x%lx state=0x%x exit_state=0x%x flags=0x%x comm=%*phN%s\n",
		status, r->pid, r->tgid, r->ppid, r->leader, on_list, r->va, r->pa, r->state,
		r->exit_state, r->flags, TASK_COMM_LEN, r->comm, extra);
}

#define OFF(member) pr_info(PFX "offset task_struct.%s=%zu\n", #member, offsetof(struct task_struct, member))

static void print_offsets(void)
{
	/*
	 * x86 sizes the FPU state at the end of task_struct at boot
	 * (CONFIG_ARCH_WANTS_DYNAMIC_TASK_STRUCT): the slab object is arch_task_struct_size
	 * bytes, often less than sizeof. The variable is not exported; resolved at run time.
	 */
	int *alloc_size = (int *)lookup_name("arch_task_struct_size");

	pr_info(PFX "offset task_struct.size=%zu\n", sizeof(struct task_struct));
	if (alloc_size)
		pr_info(PFX "offset task_struct.alloc_size=%d\n", *alloc_size);
	OFF(tasks); OFF(pid); OFF(tgid); OFF(comm); OFF(real_parent); OFF(parent);
	OFF(children); OFF(sibling); OFF(group_leader); OFF(thread_pid); OFF(stack);
	OFF(mm); OFF(active_mm); OFF(cred); OFF(real_cred); OFF(start_time);
	OFF(start_boottime); OFF(flags); OFF(exit_state); OFF(__state); OFF(signal);
	OFF(thread_node); OFF(thread_group); OFF(sched_class); OFF(stack_canary);
	OFF(exit_signal); OFF(usage);
}

static void dump_truth(void)
{
	struct task_struct *p, *t;
	struct task_rec *recs, r;
	int n = 0, overflow = 0, i;
	unsigned long flags;
	char extra[48];

	recs = vmalloc(sizeof(*recs) * MAX_TASKS);
	if (!recs) {
		pr_err(PFX "error dump: out of memory\n");
		return;
	}
	pr_info(PFX "begin version=1 release=%s\n", utsname()->release);
	pr_info(PFX "layout page_offset_base=0x%lx vmalloc_base=0x%lx vmemmap_base=0x%lx phys_base=0x%lx paging_levels=%d\n",
		page_offset_base, vmalloc_base, vmemmap_base, (unsigned long)phys_base,
		pgtable_l5_enabled() ? 5 : 4);
	pr_info(PFX "layout init_task_va=0x%lx init_task_pa=0x%lx init_top_pgt_va=0x%lx init_top_pgt_pa=0x%lx init_mm_pgd_pa=0x%lx\n",
		(unsigned long)&init_task, (unsigned long)virt_to_phys(&init_task), init_top_pgt_va,
		(unsigned long)virt_to_phys((void *)init_top_pgt_va),
		(unsigned long)virt_to_phys(init_mm_p->pgd));
	pr_info(PFX "layout list_poison1=0x%lx list_poison2=0x%lx\n",
		(unsigned long)LIST_POISON1, (unsigned long)LIST_POISON2);
	print_offsets();

	/* Snapshot under RCU, print afterwards: printk to a serial console is slow. */
	rcu_read_lock();
	fill_rec(&recs[n++], &init_task);
	for_each_process_thread(p, t) {
		if (n >= MAX_TASKS) {
			overflow++;
			continue;
		}
		fill_rec(&recs[n++], t);
	}
	rcu_read_unlock();

	/* init_task is the list head: reachable by a walk that starts at it. */
	for (i = 0; i < n; i++)
		print_task("live", &recs[i], recs[i].leader, "");
	mutex_lock(&cmd_mutex);
	for (i = 0; i < n_hidden; i++) {
		fill_rec(&r, hidden[i].task);
		snprintf(extra, sizeof(extra), " style=%s", style_names[hidden[i].style]);
		print_task("hidden", &r, 0, extra);
	}
	mutex_unlock(&cmd_mutex);

	spin_lock_irqsave(&exit_lock, flags);
	i = n_exits;
	spin_unlock_irqrestore(&exit_lock, flags);
	/* Records below i are complete and never rewritten. */
	for (n = 0; n < i; n++) {
		struct exit_rec *e = &exits[n];

		r.pid = e->pid; r.tgid = e->tgid; r.ppid = e->ppid; r.leader = e->leader;
		r.state = 0; r.exit_state = 0; r.flags = 0; r.va = e->va; r.pa = e->pa;
		memcpy(r.comm, e->comm, TASK_COMM_LEN);
		print_task("exited", &r, 0, "");
	}
	if (overflow || exits_overflow)
		pr_err(PFX "error overflow tasks=%d exits=%d\n", overflow, exits_overflow);
	pr_info(PFX "truth done\n");
	vfree(recs);
}

/*
 * "where PID": one line with the task_struct address of PID (0 = init_task, the idle
 * task of CPU 0), for the fuzzing campaigns (src/fuzz/), which write into that object
 * through QEMU's gdbstub:
 *   kcarve: where pid=N tgid=N va=0x... pa=0x... size=N alloc=N comm=<16 bytes hex>
 */
static int where_pid(pid_t nr)
{
	struct task_struct *t;
	unsigned long va, pa;
	pid_t pid, tgid;
	char comm[TASK_COMM_LEN];
	int *alloc_size;

	rcu_read_lock();
	t = nr == 0 ? &init_task : pid_task(find_vpid(nr), PIDTYPE_PID);
	if (!t) {
		rcu_read_unlock();
		pr_err(PFX "error where: no task with pid %d\n", nr);
		return -ESRCH;
	}
	va = (unsigned long)t;
	pa = virt_to_phys(t);
	pid = t->pid;
	tgid = t->tgid;
	memcpy(comm, t->comm, TASK_COMM_LEN);
	rcu_read_unlock();
	/* alloc: bytes of the slab object (arch_task_struct_size, see print_offsets). */
	alloc_size = (int *)lookup_name("arch_task_struct_size");
	pr_info(PFX "where pid=%d tgid=%d va=0x%lx pa=0x%lx size=%zu alloc=%d comm=%*phN\n", pid, tgid,
		va, pa, sizeof(struct task_struct), alloc_size ? *alloc_size : 0, TASK_COMM_LEN, comm);
	return 0;
}

static ssize_t truth_write(struct file *f, const char __user *ubuf, size_t len, loff_t *off)
{
	char buf[64], word[16], sname[16];
	int pid, ret = len;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = 0;
	if (sscanf(buf, "%15s", word) != 1)
		return -EINVAL;
	if (strcmp(word, "hide") == 0) {
		enum style s;

		if (sscanf(buf, "%15s %d %15s", word, &pid, sname) != 3)
			return -EINVAL;
		if (strcmp(sname, "self") == 0)
			s = STYLE_SELF;
		else if (strcmp(sname, "stale") == 0)
			s = STYLE_STALE;
		else if (strcmp(sname, "poison") == 0)
			s = STYLE_POISON;
		else
			return -EINVAL;
		mutex_lock(&cmd_mutex);
		if (hide_pid(pid, s))
			ret = -EINVAL;
		mutex_unlock(&cmd_mutex);
	} else if (strcmp(word, "where") == 0) {
		if (sscanf(buf, "%15s %d", word, &pid) != 2)
			return -EINVAL;
		if (where_pid(pid))
			ret = -ESRCH;
	} else if (strcmp(word, "dump") == 0) {
		dump_truth();
	} else {
		return -EINVAL;
	}
	return ret;
}

static const struct proc_ops truth_ops = {
	.proc_write = truth_write,
};

static int __init kcarve_truth_init(void)
{
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };
	int err;

	err = register_kprobe(&kp);
	if (err) {
		pr_err(PFX "error init: kprobe on kallsyms_lookup_name failed (%d)\n", err);
		return err;
	}
	lookup_name = (lookup_fn)kp.addr;
	unregister_kprobe(&kp);

	tasklist_lock_p = (rwlock_t *)lookup_name("tasklist_lock");
	init_mm_p = (struct mm_struct *)lookup_name("init_mm");
	init_top_pgt_va = lookup_name("init_top_pgt");
	if (!tasklist_lock_p || !init_mm_p || !init_top_pgt_va) {
		pr_err(PFX "error init: unresolved symbol tasklist_lock=%px init_mm=%px init_top_pgt=%lx\n",
		       tasklist_lock_p, init_mm_p, init_top_pgt_va);
		return -ENOENT;
	}

	exits = vzalloc(sizeof(*exits) * MAX_EXITS);
	if (!exits)
		return -ENOMEM;
	for_each_kernel_tracepoint(find_exit_tp, NULL);
	if (!tp_exit) {
		pr_err(PFX "error init: tracepoint sched_process_exit not found\n");
		vfree(exits);
		return -ENOENT;
	}
	err = tracepoint_probe_register(tp_exit, on_exit_probe, NULL);
	if (err) {
		pr_err(PFX "error init: tracepoint_probe_register failed (%d)\n", err);
		vfree(exits);
		return err;
	}
	proc_entry = proc_create("kcarve_truth", 0200, NULL, &truth_ops);
	if (!proc_entry) {
		tracepoint_probe_unregister(tp_exit, on_exit_probe, NULL);
		tracepoint_synchronize_unregister();
		vfree(exits);
		return -ENOMEM;
	}
	pr_info(PFX "loaded\n");
	return 0;
}

/*
 * The image builder never unloads the module. Unloading after a hide leaves the hidden
 * tasks unlinked and their references held: that is the point of the experiment.
 */
static void __exit kcarve_truth_exit(void)
{
	proc_remove(proc_entry);
	tracepoint_probe_unregister(tp_exit, on_exit_probe, NULL);
	tracepoint_synchronize_unregister();
	vfree(exits);
}

module_init(kcarve_truth_init);
module_exit(kcarve_truth_exit);
