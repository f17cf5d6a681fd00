	.globl _start
_start:
	core_id t0
	bnez t0, 1f
	barrier
1:	li a0, 0
	li a7, 93
	ecall
