# FP16-SIMD dot product on 8 worker cores (run with: mcusim run dot_fp16.s --cores 8).
# Each core takes a contiguous slice of two 1024-element FP16 vectors in the TCDM and accumulates
# two lanes per instruction with vfdotpex.s.h (FP16 products, FP32 accumulator) in a hardware loop
# with post-increment loads. Partial sums meet in the TCDM; after a barrier, core 0 adds them,
# checks the result (1024 x 1.0 x 0.5 = 512.0) and prints a line.
    .equ N, 1024                        # elements per vector
    .text
    .globl _start
_start:
    core_id   s0                        # s0 = core id
    region_begin dot
    # slice = N / 8 elements per core; offset = id * slice * 2 bytes
    li        t3, N / 8 * 2
    mul       t4, t3, s0
    la        a1, vec_a
    la        a2, vec_b
    add       a1, a1, t4
    add       a2, a2, t4
    fmv.w.x   fa0, zero                 # FP32 accumulator
    li        t5, N / 8 / 2             # iterations: two lanes each
    lp.setup  x0, t5, 2f
    flw       ft0, 0(a1)
    flw       ft1, 0(a2)
    addi      a1, a1, 4
    addi      a2, a2, 4
2:  vfdotpex.s.h fa0, ft0, ft1
    la        t0, partial
    slli      t1, s0, 2
    add       t0, t0, t1
    fsw       fa0, 0(t0)
    barrier
    region_end dot
    bnez      s0, done
    # core 0: reduce the partial sums and check
    la        t0, partial
    fmv.w.x   fa1, zero
    li        t1, 8
3:  flw       ft2, 0(t0)
    fadd.s    fa1, fa1, ft2
    addi      t0, t0, 4
    addi      t1, t1, -1
    bnez      t1, 3b
    li        t2, 0x44000000            # 512.0
    fmv.x.w   t3, fa1
    bne       t2, t3, wrong
    li        a0, 1                     # write(1, msg, len)
    la        a1, msg
    li        a2, msg_end - msg
    li        a7, 64
    ecall
done:
    li        a0, 0
    li        a7, 93
    ecall
wrong:
    li        a0, 1
    li        a7, 93
    ecall

    .section .rodata
msg: .ascii "dot_fp16: 1024-element FP16 dot product on 8 cores = 512.0 (correct)\n"
msg_end:

    .section .tcdm
    .align 4
vec_a: .fill N, 2, 0x3c00               # 1.0 in FP16
vec_b: .fill N, 2, 0x3800               # 0.5 in FP16
partial: .space 4 * 8
