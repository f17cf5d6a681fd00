	.globl _start
_start:
	li t0, 0x102000f0
	sw zero, 0(t0)
