/* crt0 of mcusim's C SDK: stacks, .bss, main, exit.
 *
 * Modes (`mcusim run`, README): in SPMD mode (--cores N) workers 0..N-1 start here and every one
 * runs main; in controller mode (--controller, or a program using the PMSIS offload API) only the
 * cluster controller (core 8) starts here and the workers sleep until it forks work to them.
 * Each core gets its own stack in the TCDM (link.ld: __mcusim_stacks, worker i at slot i, the
 * controller above them). .bss is zeroed once: by the controller, or in SPMD mode by core 0 while
 * the others wait at the barrier. main's return value is the core's exit code (ecall a7 = 93).
 */
    .section .text.crt0, "ax"
    .globl _start
    .type _start, @function
_start:
    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop
    csrr    t0, mhartid
    jal     t6, __mcusim_set_stack
    li      t1, 8
    beq     t0, t1, 1f              /* controller: zero .bss, no one to wait for */
    bnez    t0, 3f                  /* SPMD, cores 1..N-1: wait for core 0 */
1:  la      a0, __bss_start
    la      a1, __bss_end
2:  bgeu    a0, a1, 2f
    sw      zero, 0(a0)
    addi    a0, a0, 4
    j       2b
2:  la      a0, __tcdm_bss_start
    la      a1, __tcdm_bss_end
2:  bgeu    a0, a1, 2f
    sw      zero, 0(a0)
    addi    a0, a0, 4
    j       2b
2:  csrr    t0, mhartid
    li      t1, 8
    beq     t0, t1, 4f
3:  lw      zero, -2040(zero)       /* barrier (event unit, memory_map.EU_BARRIER) */
4:  li      a0, 0
    li      a1, 0
    call    main
    call    exit
    .size _start, .-_start

/* sp = top of this core's stack (core id in t0; returns through t6; clobbers t1, t2) */
    .type __mcusim_set_stack, @function
__mcusim_set_stack:
    la      sp, __mcusim_stacks_end
    li      t1, 8
    beq     t0, t1, 1f
    la      sp, __mcusim_stacks
    la      t1, __mcusim_worker_stack_size
    addi    t2, t0, 1
    mul     t2, t2, t1
    add     sp, sp, t2
1:  jr      t6
    .size __mcusim_set_stack, .-__mcusim_set_stack

/* A forked worker starts here (mcusim_fork): a0 = the fork descriptor {entry, arg}. The event
 * unit set ra to the dispatch-return address, so entry's return ends the task. */
    .globl __mcusim_fork_entry
    .type __mcusim_fork_entry, @function
__mcusim_fork_entry:
    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop
    csrr    t0, mhartid
    jal     t6, __mcusim_set_stack
    lw      t3, 0(a0)
    lw      a0, 4(a0)
    jr      t3
    .size __mcusim_fork_entry, .-__mcusim_fork_entry
