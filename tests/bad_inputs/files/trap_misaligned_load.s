	.globl _start
_start:
	li t0, 0x10000001
	lw a0, 0(t0)
