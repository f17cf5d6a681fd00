	.globl _start
_start:
	addd a0, a0, a1
