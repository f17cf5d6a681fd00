	.globl _start
_start:
	li t0, 0x40000000
	sw a0, 0(t0)
