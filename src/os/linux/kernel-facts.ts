// Facts about the x86-64 Linux kernel that no layout carries: flag bits, state
// values, magic numbers and address-space constants. Each cites the header it
// comes from; the values were read from Debian's linux-headers-6.1.0-57-common
// (Linux 6.1) unless a line says otherwise. Structure offsets never live here:
// they come from the layout (src/types/).

/** include/linux/sched.h: task_struct.exit_state values. */
export const EXIT_DEAD = 0x10;
export const EXIT_ZOMBIE = 0x20;
/** EXIT_TRACE = EXIT_ZOMBIE | EXIT_DEAD. */
export const EXIT_TRACE = 0x30;

/** include/linux/sched.h: task_struct.__state bits (TASK_STATE_MAX = 0x10000 in 6.1). */
export const TASK_STATE_BITS: ReadonlyArray<readonly [number, string]> = [
  [0x1, 'TASK_INTERRUPTIBLE'],
  [0x2, 'TASK_UNINTERRUPTIBLE'],
  [0x4, '__TASK_STOPPED'],
  [0x8, '__TASK_TRACED'],
  [0x10, 'EXIT_DEAD'],
  [0x20, 'EXIT_ZOMBIE'],
  [0x40, 'TASK_PARKED'],
  [0x80, 'TASK_DEAD'],
  [0x100, 'TASK_WAKEKILL'],
  [0x200, 'TASK_WAKING'],
  [0x400, 'TASK_NOLOAD'],
  [0x800, 'TASK_NEW'],
  [0x1000, 'TASK_RTLOCK_WAIT'],
  [0x2000, 'TASK_FREEZABLE'],
  [0x4000, '__TASK_FREEZABLE_UNSAFE'],
  [0x8000, 'TASK_FROZEN'],
];
export const TASK_DEAD = 0x80;
export const TASK_STATE_MAX = 0x10000;

/** include/linux/sched.h: task_struct.flags bits used here. */
export const PF_IDLE = 0x2;
export const PF_EXITING = 0x4;
export const PF_KTHREAD = 0x200000;
/**
 * Bits include/linux/sched.h (6.1) names PF__HOLE__*: no code sets them
 * (0x4000, 0x10000, 0x1000000, 0x2000000, 0x20000000, 0x40000000). Other kernel
 * versions give some of them a meaning (PF_USER_WORKER 0x4000 in 6.4), so only a
 * signature for 6.1 may use this mask.
 */
export const PF_HOLES_6_1 = 0x4000 | 0x10000 | 0x1000000 | 0x2000000 | 0x20000000 | 0x40000000;

/** include/uapi/linux/sched.h: scheduling policies (4 is unused). */
export const SCHED_POLICIES: readonly number[] = [0, 1, 2, 3, 5, 6];

/** include/linux/sched/prio.h: static_prio = NICE_TO_PRIO(nice), nice in -20..19, so 100..139. */
export const STATIC_PRIO_MIN = 100;
export const STATIC_PRIO_MAX = 139;

/**
 * include/linux/random.h: on 64-bit little-endian kernels get_random_canary()
 * masks the canary with CANARY_MASK = 0xffffffffffffff00, so its low byte is zero.
 */
export const CANARY_LOW_BYTE_MASK = 0xffn;

/** include/uapi/linux/magic.h: written at the lowest address of every task stack (end_of_stack). */
export const STACK_END_MAGIC = 0x57ac6e9dn;

/**
 * arch/x86/include/asm/page_64_types.h: THREAD_SIZE = PAGE_SIZE << (2 + KASAN_STACK_ORDER),
 * 16 KiB without KASAN (Debian). Stacks are THREAD_SIZE aligned (THREAD_ALIGN, kernel/fork.c
 * alloc_thread_stack_node: __vmalloc_node(THREAD_SIZE, THREAD_ALIGN, ...)).
 */
export const THREAD_SIZE = 16384;

/** include/linux/poison.h with CONFIG_ILLEGAL_POINTER_VALUE = 0xdead000000000000 (x86-64). */
export const LIST_POISON1 = 0xdead000000000100n;
export const LIST_POISON2 = 0xdead000000000122n;

/** arch/x86/include/asm/page_64_types.h: the kernel-image map and its size with CONFIG_RANDOMIZE_BASE. */
export const START_KERNEL_MAP = 0xffff_ffff_8000_0000n;
export const KERNEL_IMAGE_SIZE = 1n << 30n;

/**
 * arch/x86/mm/kaslr.c (kernel_randomize_memory): the direct map's base moves in
 * PUD_SIZE (1 GiB) steps under CONFIG_RANDOMIZE_MEMORY.
 */
export const DIRECT_MAP_ALIGN = 1n << 30n;

/**
 * arch/x86/mm/kaslr.c (kernel_randomize_memory, 6.1): the randomised regions (direct
 * map first) are laid out from vaddr_start = __PAGE_OFFSET_BASE_L4 (0xffff888000000000)
 * or __PAGE_OFFSET_BASE_L5 (0xff11000000000000) up to vaddr_end = CPU_ENTRY_AREA_BASE
 * (0xfffffe0000000000); without KASLR the base is vaddr_start itself.
 */
export const DIRECT_MAP_RANGE_L4: readonly [bigint, bigint] = [0xffff_8880_0000_0000n, 0xffff_fe00_0000_0000n];
export const DIRECT_MAP_RANGE_L5: readonly [bigint, bigint] = [0xff11_0000_0000_0000n, 0xffff_fe00_0000_0000n];

/** Lowest kernel-half address with 4-level paging: a pointer below it (and at or above 0xff00…) is 5-level. */
export const KERNEL_HALF_L4 = 0xffff_8000_0000_0000n;

/**
 * mm/slub.c (calculate_sizes, 6.1): max order of a slab page by default is
 * slub_max_order = PAGE_ALLOC_COSTLY_ORDER = 3, so a slab spans at most 32 KiB
 * and a free object's next pointer stays inside that naturally aligned block.
 */
export const SLAB_MAX_BYTES = 4096 * 8;

/** The text of a task's state, as `ps` prints it (fs/proc/array.c task_state_array, 6.1). */
export function stateText(state: number, exitState: number): string {
  if ((exitState & EXIT_ZOMBIE) !== 0) return 'Z (zombie)';
  if ((exitState & EXIT_DEAD) !== 0) return 'X (dead)';
  if (state === 0) return 'R (running)';
  if ((state & TASK_DEAD) !== 0) return 'X (dead)';
  if ((state & 0x40) !== 0) return 'P (parked)';
  if ((state & 0x8) !== 0) return 't (tracing stop)';
  if ((state & 0x4) !== 0) return 'T (stopped)';
  if ((state & 0x402) === 0x402) return 'I (idle)';
  if ((state & 0x2) !== 0) return 'D (disk sleep)';
  if ((state & 0x1) !== 0) return 'S (sleeping)';
  return `? (0x${state.toString(16)})`;
}
