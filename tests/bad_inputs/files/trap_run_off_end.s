	.globl _start
_start:
	nop
