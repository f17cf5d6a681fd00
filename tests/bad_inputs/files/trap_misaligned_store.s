	.globl _start
_start:
	li t0, 0x10000002
	sw a0, 0(t0)
